"""Every integer an entry point takes has bounds, so an id or a number beyond what the database
holds is answered 422 and never reaches a query (an OpenAPI fuzzer found five routes answering
500 for ids past 64 bits; on PostgreSQL ids past 32 bits did the same).

The schema walk covers the console's pages too (they are left out of the published schema, not
out of the rule)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.e2e.conftest import login, make_user

HUGE = [2**70, 2**63, 2**31]  # past 64 bits, past signed 64 bits, past PostgreSQL's INTEGER


def _routes(app: Any) -> list[APIRoute]:
    found: list[APIRoute] = []

    def walk(routes: list[Any]) -> None:
        for r in routes:
            if hasattr(r, "original_router"):
                walk(r.original_router.routes)
            elif isinstance(r, APIRoute):
                found.append(r)

    walk(app.routes)
    return found


def _unbounded(schema: Any, where: str, components: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _unbounded(components[name], f"{where}→{name}", components, (*seen, name))
        return
    if schema.get("type") == "integer":
        low = "minimum" in schema or "exclusiveMinimum" in schema
        high = "maximum" in schema or "exclusiveMaximum" in schema
        if not (low and high):
            yield where
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _unbounded(sub, where, components, seen)
    if "items" in schema:
        yield from _unbounded(schema["items"], f"{where}[]", components, seen)
    for name, sub in schema.get("properties", {}).items():
        yield from _unbounded(sub, f"{where}.{name}", components, seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _unbounded(schema["additionalProperties"], f"{where}{{}}", components, seen)


def _full_schema(app: Any) -> dict[str, Any]:
    """The OpenAPI schema of every route, the console's included."""
    routes = _routes(app)
    hidden = [r for r in routes if not r.include_in_schema]
    for r in hidden:
        r.include_in_schema = True
    try:
        with pytest.warns(UserWarning) if hidden else _nothing():
            return get_openapi(title="all", version="0", routes=routes)
    finally:
        for r in hidden:
            r.include_in_schema = False


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_no_integer_in_the_schema_is_unbounded() -> None:
    from siyu.app import create_app

    spec = _full_schema(create_app())
    components = spec.get("components", {}).get("schemas", {})
    loose: list[str] = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            at = f"{method.upper()} {path}"
            for p in op.get("parameters", []):
                loose += _unbounded(p["schema"], f"{at} {p['in']}:{p['name']}", components, ())
            for content in op.get("requestBody", {}).get("content", {}).values():
                loose += _unbounded(content.get("schema", {}), f"{at} body", components, ())
    assert not loose, "integers without bounds:\n" + "\n".join(loose)


@pytest.fixture()
def admin(client: TestClient) -> dict[str, str]:
    make_user("root", "admin")
    return {"X-CSRF-Token": login(client, "root")}


@pytest.mark.parametrize("n", HUGE)
def test_the_five_routes_the_fuzzer_found(
    client: TestClient, admin: dict[str, str], n: int
) -> None:
    asked = [
        ("GET", f"/api/v1/customers/{n}", None),
        ("GET", f"/api/v1/campaigns/{n}/results", None),
        ("GET", f"/api/v1/wecom/live-codes/{n}/stats", None),
        ("GET", f"/api/v1/wecom/group-codes/{n}/qr.png", None),
        ("POST", "/api/v1/segments/static", {"name": "x", "customer_ids": [1, n]}),
    ]
    for method, url, body in asked:
        r = client.request(method, url, json=body, headers=admin)
        assert r.status_code == 422, (url, r.status_code, r.text[:200])


BIGINT_IDS = {"/api/v1/send-ledger/{row_id}/settle", "/campaigns/ambiguous/{row_id}"}  # ledger
PARAMS = {
    "lang": "en",
    "action": "pause",
    "token": "not-a-token",
    "prefix": "ffff",
    "programme": "vip",  # a loyalty programme's code
    "code": "ABCDEFGH",  # a referral code
    "slug": "spring",  # a form's address
}


@pytest.mark.parametrize("n", HUGE)
def test_every_id_in_a_path_is_refused_past_its_column(
    client: TestClient, admin: dict[str, str], n: int
) -> None:
    """Every route with a number in its path, API and console, as an administrator."""
    from siyu.app import create_app

    checked = 0
    for route in _routes(create_app()):
        names = re.findall(r"\{(\w+)\}", route.path)
        numeric = [x for x in names if x not in PARAMS]
        if not numeric:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m.group(1), str(n)), route.path)
        for method in sorted(route.methods - {"HEAD"}):
            api = route.path.startswith("/api/")
            kw: dict[str, Any] = {}
            if method != "GET":
                kw = {"json": {}} if api else {"data": {"csrf": admin["X-CSRF-Token"]}}
            r = client.request(method, url, headers=admin, follow_redirects=False, **kw)
            if route.path in BIGINT_IDS and n < 2**63:
                assert r.status_code < 500, (method, url, r.status_code)
            else:
                assert r.status_code == 422, (method, url, r.status_code, r.text[:200])
            checked += 1
    assert checked > 30


@pytest.mark.parametrize("truth", [True, False])
def test_true_or_false_is_no_id(client: TestClient, admin: dict[str, str], truth: bool) -> None:
    """JSON ``true`` is 1 to a lax int: as an id it would name the first customer or segment."""
    asked = [
        ("/api/v1/segments/static", {"name": "x", "customer_ids": [truth]}),
        ("/api/v1/customers/merge", {"winner_id": truth, "loser_id": 2}),
        ("/api/v1/privacy/export", {"customer_id": truth}),
        ("/api/v1/tags/assign", {"tag": "t", "customer_ids": [truth]}),
    ]
    for url, body in asked:
        r = client.post(url, json=body, headers=admin)
        assert r.status_code == 422, (url, r.status_code, r.text[:200])
        assert "true or false" in r.text, (url, r.text[:300])
