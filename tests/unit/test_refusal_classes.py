"""A refusal is answered by its class, never by its words: every refusal carries an HTTP status
(4xx or 5xx) taken from the generic base it derives from, and no API route or console page
decides a status by reading a refusal's text, catches a refusal only to answer it, or keeps a
``_fail`` helper of its own (the one answer is ``webkit.answer_refusal``)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from siyu import refusals
from siyu.messages import refusal_keywords
from siyu.refusals import Conflict, Forbidden, NotFound, Refusal, Unavailable, UpstreamFailed

SRC = Path(refusals.__file__).parent
GENERIC = (NotFound, Conflict, Forbidden, UpstreamFailed, Unavailable)
# What answers requests: the API routers and the console's pages (beside their capability, and
# the shell's own).
ENTRY_POINTS = sorted(
    {
        *SRC.rglob("api*.py"),
        *SRC.rglob("public.py"),
        *SRC.rglob("views.py"),
        *SRC.glob("console/*views*.py"),
    }
)


def _defining_modules() -> list[str]:
    """Every module that defines a refusal class (found as ``siyu.messages`` finds them)."""
    names = set(refusal_keywords())
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.ClassDef) and n.name in names for n in ast.walk(tree)):
            found.append(".".join(("siyu", *path.relative_to(SRC).with_suffix("").parts)))
    return found


def _every_refusal_class() -> list[type[Refusal]]:
    for module in _defining_modules():
        importlib.import_module(module)
    seen: list[type[Refusal]] = []
    todo: list[type[Refusal]] = [Refusal]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return seen


CLASSES = _every_refusal_class()


def test_the_classes_and_entry_points_are_found() -> None:
    assert len([p for p in ENTRY_POINTS if p.name.startswith("api")]) >= 10
    assert len([p for p in ENTRY_POINTS if p.name == "views.py"]) >= 10
    names = {c.__name__ for c in CLASSES}
    assert {"NoSuchSegment", "NameTaken", "EventRejected", "BrandError", "WecomError"} <= names
    assert len(CLASSES) > 40


def test_every_refusal_has_an_error_status_and_exit_code() -> None:
    odd = [c.__name__ for c in CLASSES if not 400 <= c.status <= 599 or c.exit_code < 1]
    assert not odd


def test_a_refusal_answers_with_its_generic_base_status() -> None:
    """``class NoSuchSegment(SegmentError, NotFound)`` is a 404 even where the domain's own
    refusal has a status of its own (the generic base comes first in the bases then)."""
    for cls in CLASSES:
        generic = [base for base in cls.__mro__ if base in GENERIC]
        if generic:
            assert cls.status == generic[0].status, [b.__name__ for b in cls.__mro__]
    assert refusals.NotPermitted("campaigns:approve").status == 403


def test_statuses_by_class() -> None:
    from siyu.analytics.engines import EngineUnavailable
    from siyu.customers.service import CustomerError, NoSuchCustomer, NotVisible
    from siyu.reach.sending.ledger import LedgerError, NotInLedger, WrongState
    from siyu.segments.service import NameTaken, NoSuchSegment
    from siyu.wecom.connection.client import WecomError
    from siyu.wecom.live_codes.service import WecomRefused

    assert (NoSuchSegment.status, NameTaken.status, LedgerError.status) == (404, 409, 422)
    assert (NotInLedger.status, WrongState.status) == (404, 409)
    assert (CustomerError.status, NoSuchCustomer.status, NotVisible.status) == (409, 404, 404)
    assert NotVisible.keeps_writes and not NoSuchCustomer.keeps_writes
    assert (EngineUnavailable.status, WecomError.status, WecomRefused.status) == (503, 502, 502)
    assert refusals.NotPermitted.exit_code == 4 and Refusal.exit_code == 1


def _handler_names(handler: ast.ExceptHandler) -> list[str]:
    kinds = handler.type
    nodes = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds] if kinds else []
    return [n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "") for n in nodes]


def _is_words(node: ast.AST, caught: set[str]) -> bool:
    return (
        isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "str"
        and bool(node.args)
        and getattr(node.args[0], "id", None) in caught
    )


def _reads_words(node: ast.AST, caught: set[str], texts: frozenset[str] = frozenset()) -> bool:
    """``str(exc)`` (a caught exception's words, or a name holding them) or a ``.template``,
    compared or searched."""
    for sub in ast.walk(node):
        if _is_words(sub, caught) or (isinstance(sub, ast.Name) and sub.id in texts):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr == "template":
            return True
    return False


@pytest.mark.parametrize("path", ENTRY_POINTS, ids=lambda p: str(p.relative_to(SRC)))
def test_no_entry_point_matches_a_refusals_words(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = str(path.relative_to(SRC))
    helpers = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert "_fail" not in helpers, f"{where}: a _fail helper; refusals answer by their class"
    caught = {n.name for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler) and n.name}
    caught |= {"exc"}  # a helper's parameter (``def _fail(exc)``) as well
    texts = frozenset(  # text = str(exc)
        t.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and _is_words(n.value, caught)
        for t in n.targets
        if isinstance(t, ast.Name)
    )
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and _reads_words(node, caught, texts):
            raise AssertionError(f"{where}:{node.lineno} decides by a refusal's words")
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
            "startswith",
            "endswith",
        ):
            words = _reads_words(node.func, caught, texts)
            assert not words, f"{where}:{node.lineno} reads a refusal's words"


@pytest.mark.parametrize(
    "path", [p for p in ENTRY_POINTS if p.name.startswith("api")], ids=lambda p: p.name
)
def test_no_api_route_catches_a_refusal(path: Path) -> None:
    """The API answers every refusal in one place; a route that caught one would decide its
    status and words again."""
    names = set(refusal_keywords()) | {"ValueError"}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler):
            caught = set(_handler_names(node)) & names
            assert not caught, f"{path.name}:{node.lineno} catches {caught}"
    assert "Refused" not in {getattr(n, "id", None) for n in ast.walk(tree)}
