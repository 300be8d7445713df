"""The HTTP API keeps the contract its OpenAPI document states: schemathesis generates requests
for every operation in ``/api/openapi.json`` (the document's examples, boundary and invalid
values, missing and wrong API keys, random data) and each answer must be no server error, with
a status code, content type and body the document declares.

Each operation is called as its real caller would be: with an API key holding every scope a
key may hold (``Authorization: Bearer``) where a key can reach it, else as the administrator
signed in to the console (session cookie and CSRF header). The world it runs in: two customers
with orders, a segment, the analytical copy and a simulated WeCom corp; the operations run in
the document's order, each seeing what the ones before it stored.

Deterministic (a fixed seed, Hypothesis derandomised, no example database) and bounded per
operation, against the in-process app. A failure prints the request as ``curl``; a wider run
(more examples per operation) is ``SIYU_CONTRACT_EXAMPLES=200 pytest tests/e2e/test_api_contract.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from typer.testing import CliRunner

from siyu.capability import Permission
from tests import platform_files as pf

# Random examples per operation, on top of the document's own and the boundary cases: 21 to 220
# requests per operation, 3,376 for the 66 operations, about 40 s of one core.
EXAMPLES = int(os.environ.get("SIYU_CONTRACT_EXAMPLES", "12"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# The contract is the document's and the routes': checked against the SQLite app, in that pass.
pytestmark = pytest.mark.once


def _load() -> tuple[Any, Any, dict[str, str]]:
    """The app, its document as served (read once, when the tests are collected: no database is
    needed for it) and the permission each operation requires."""
    from fastapi.testclient import TestClient

    from siyu.app import create_app
    from siyu.config import reset_settings

    app = create_app()
    document = TestClient(app).get("/api/openapi.json").json()
    reset_settings()  # create_app read the settings; each test sets its own
    config = schemathesis.Config.from_dict(
        {
            "seed": 20260611,
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        }
    )
    return app, schemathesis.openapi.from_dict(document, config=config), _permissions(app)


def _permissions(app: Any) -> dict[str, str]:
    """``"GET /api/v1/…"`` -> the permission its ``require(...)`` asks for (as the permission
    matrix reads it)."""
    found: dict[str, str] = {}

    def required(dependant: Any) -> str | None:
        for sub in dependant.dependencies:
            call = sub.call
            if getattr(call, "__name__", "") == "check" and call.__closure__:
                for cell in call.__closure__:
                    if isinstance(cell.cell_contents, Permission):
                        return str(cell.cell_contents)
            deeper = required(sub)
            if deeper:
                return deeper
        return None

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif isinstance(route, APIRoute) and route.include_in_schema:
                perm = required(route.dependant)
                found.update({f"{method} {route.path}": perm for method in route.methods if perm})

    walk(app.routes)
    return found


APP, SCHEMA, REQUIRED = _load()


def _seed(tmp_path: Path) -> None:
    """Two customers with orders, a segment and the analytical copy, so ids 1 and 2 lead
    somewhere."""
    from siyu.cli import app
    from siyu.db import session_scope
    from siyu.segments.service import create_segment

    runner = CliRunner()
    rows = [
        pf.taobao_row("8001", "tb_a", "13812348001", "300.00"),
        pf.taobao_row("8002", "tb_b", "13812348002", "20.00"),
    ]
    out = runner.invoke(
        app, ["import", "orders", str(pf.taobao(tmp_path / "tb.csv", rows)), "--source", "taobao"]
    )
    assert out.exit_code == 0, out.output
    with session_scope() as s:
        create_segment(s, "big spenders", rule="orders.sum >= 100", actor="test")
    assert runner.invoke(app, ["analytics", "refresh"]).exit_code == 0


@pytest.fixture()
def callers(tmp_path: Path, wecom: Any) -> dict[str, dict[str, Any]]:
    """How to call as the API key and as the signed-in administrator, in the seeded world."""
    from siyu.accounts.permissions import API_KEY_SCOPES
    from siyu.accounts.service import create_api_key, create_user, login
    from siyu.config import get_settings
    from siyu.db import session_scope
    from siyu.webkit import SESSION_COOKIE

    _seed(tmp_path)
    with session_scope() as s:
        _key, secret = create_api_key(s, "contract", sorted(API_KEY_SCOPES))
        create_user(s, get_settings(), "contract-admin", "correct-horse-battery", "admin")
    with session_scope() as s:
        token, row = login(s, get_settings(), "contract-admin", "correct-horse-battery", "::1")
        csrf = row.csrf_token
    return {
        "key": {"headers": {"Authorization": f"Bearer {secret}"}},
        "admin": {"headers": {"X-CSRF-Token": csrf}, "cookies": {SESSION_COOKIE: token}},
    }


@pytest.fixture()
def api_schema(request: pytest.FixtureRequest, callers: Any) -> Any:
    # schemathesis 4.32's lazy schema reads and sets ``item._nodeid``, which pytest 9.2's items
    # no longer have (they keep ``nodeid`` elsewhere); it only names the sub-tests with it
    request.node._nodeid = request.node.nodeid  # type: ignore[attr-defined]
    return SCHEMA


# one pytest item whose sub-tests are the operations: the world is seeded once, not 66 times
schema = schemathesis.pytest.from_fixture("api_schema")


def _caller(label: str) -> str:
    from siyu.accounts.permissions import API_KEY_SCOPES

    return "key" if REQUIRED.get(label) in API_KEY_SCOPES else "admin"


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # one world, on purpose
def test_api_keeps_its_contract(case: Any, callers: dict[str, dict[str, Any]]) -> None:
    caller = _caller(case.operation.label)
    if caller == "admin" and case.headers:
        # a generated API key (valid or not) would be read before the console login
        case.headers.pop("Authorization", None)
    case.call_and_validate(app=APP, checks=CHECKS, **callers[caller])
