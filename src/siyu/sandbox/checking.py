"""Checking a template (syntax, refused constructs, unknown names) and rendering it within
its budget, output stopped at the caller's cap."""

from __future__ import annotations

import time
from collections.abc import Collection, Generator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from jinja2 import Template, TemplateError, TemplateSyntaxError, nodes
from jinja2.meta import find_undeclared_variables

from siyu.refusals import Refusal
from siyu.sandbox import limits as budget
from siyu.sandbox.environment import HTML, TEXT
from siyu.sandbox.limits import TemplateRefused


# -- checking and rendering ------------------------------------------------------------------------
@dataclass(frozen=True)
class Compiled:
    """A checked template: the caller's variables it uses, and the compiled form."""

    variables: frozenset[str]
    template: Template


def _check_node(node: nodes.Node) -> None:
    line = node.lineno
    for node_type, what in budget.REFUSED.items():
        if isinstance(node, node_type):
            raise TemplateRefused("{what} is not allowed in templates", line=line, what=what)
    if isinstance(node, nodes.For) and node.recursive:
        raise TemplateRefused("recursive loops are not allowed in templates", line=line)
    if isinstance(node, nodes.Filter) and node.name not in budget.FILTERS:
        raise TemplateRefused("unknown filter '{name}'", line=line, name=node.name)
    if isinstance(node, nodes.Getattr) and node.attr not in budget.ATTRIBUTES:
        raise TemplateRefused("'.{name}' cannot be used in templates", line=line, name=node.attr)
    if (
        isinstance(node, nodes.Mod)
        and isinstance(node.left, nodes.Const)
        and isinstance(node.left.value, str)
    ):
        raise TemplateRefused("using % to format text is not allowed in templates", line=line)


def compile_template(
    source: str,
    *,
    variables: Collection[str],
    functions: Collection[str] = (),
    html: bool = False,
) -> Compiled:
    """Parse and check ``source``: syntax, refused constructs, unknown variables, filters and
    attributes. Raises TemplateRefused with the line."""
    if len(source) > budget.MAX_SOURCE:
        raise TemplateRefused("the template is longer than {n} characters", n=budget.MAX_SOURCE)
    env = HTML if html else TEXT
    try:
        tree = env.parse(source)
        used = _checked_tree(tree, set(variables) | set(functions))
        compiled = env.from_string(tree)
    except TemplateSyntaxError as exc:
        raise TemplateRefused(
            "syntax error: {reason}", line=exc.lineno, reason=exc.message
        ) from None
    except (RecursionError, MemoryError, SyntaxError):  # Jinja's and Python's own stack
        raise TemplateRefused("the template is nested too deeply") from None
    return Compiled(frozenset(used & set(variables)), compiled)


def _checked_tree(tree: nodes.Template, names: set[str]) -> set[str]:
    """The names ``tree`` uses, after checking every part of it."""
    every = list(tree.find_all(nodes.Node))
    if len(every) > budget.MAX_NODES:
        raise TemplateRefused("the template has more than {n} parts", n=budget.MAX_NODES)
    for node in every:
        _check_node(node)
    used = set(find_undeclared_variables(tree))
    if any(isinstance(n, nodes.Name) and n.name == "self" for n in every):
        used.add("self")  # the template's own reference: nothing a message needs
    unknown = sorted(used - names - {"range"})
    if unknown:
        line = next(
            (n.lineno for n in every if isinstance(n, nodes.Name) and n.name == unknown[0]), None
        )
        raise TemplateRefused("unknown variable '{name}'", line=line, name=unknown[0])
    return used


def _template_line(exc: BaseException) -> int | None:
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# what a template's own mistakes raise; anything else (a database error in one of the caller's
# functions) is the caller's and passes through
_TEMPLATE_ERRORS = (
    TemplateError,
    ArithmeticError,
    AssertionError,
    AttributeError,
    LookupError,
    RecursionError,
    TypeError,
    ValueError,
)


def render(
    compiled: Compiled,
    values: Mapping[str, Any],
    *,
    cap: int,
    cut: bool = False,
    seconds: float = budget.RENDER_SECONDS,
) -> str:
    """The text of one render within the limits. Past ``cap`` characters: refused, or with
    ``cut`` stopped there (the text returned then ends with the piece that passed the cap; the
    caller trims it). The callables among ``values`` are the functions the template may call.
    Raises TemplateRefused; a Refusal raised by one of those functions passes through."""
    run = budget.Run(seconds, frozenset(id(v) for v in values.values() if callable(v)))
    run.deadline = time.thread_time() + seconds
    token = budget.RUN.set(run)
    out: list[str] = []
    size = 0
    pieces = cast(Generator[str, None, None], compiled.template.generate(**values))
    try:
        for piece in pieces:
            size += len(piece)
            out.append(piece)
            if size > cap:
                if cut:
                    break
                raise TemplateRefused("the message is longer than {n} characters", n=cap)
            budget.current()
    except TemplateRefused as exc:
        exc.line = exc.line or _template_line(exc)
        raise
    except Refusal:
        raise
    except _TEMPLATE_ERRORS as exc:  # the template's own error (a type, a division by zero, …)
        raise TemplateRefused(
            "the template failed: {reason}",
            line=_template_line(exc),
            reason=f"{type(exc).__name__}: {exc}"[:200],
        ) from None
    finally:
        pieces.close()
        budget.RUN.reset(token)
    return "".join(out)
