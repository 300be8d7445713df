"""The permission matrix, generated: every route of the application is requested as every role
(and without logging in), and what happened is checked against what the route declares.

API routes declare their permission with ``webkit.require(...)`` and console pages with
``console.views.page_for(...)``; the test reads it from there. Pages that check it inside (the
older ones, and those open to any of several permissions) are listed here, and a route that
declares nothing and is missing from the list fails the test (a new page must say who may open
it). The observed matrix is also the committed reference page
docs/permissions.md; ``SIYU_WRITE_MATRIX=1`` rewrites it after a deliberate change.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from siyu.accounts.permissions import BY_NAME, ROLE_PERMISSIONS, Role
from siyu.capability import Permission

# the permissions by attribute: P.customers_read is "customers:read"
P = SimpleNamespace(**{name.replace(":", "_"): perm for name, perm in BY_NAME.items()})
PUBLIC = "public"  # anyone: the login form, language switch, tracked links, gateway callbacks
LOGGED_IN = "logged in"  # any console user
ROLES = [Role.admin, Role.operator, Role.analyst, Role.store_guide]

# Console pages that check inside: (method, path) -> the permission the page checks first.
CONSOLE: dict[tuple[str, str], str] = {
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/lang/{lang}"): PUBLIC,
    ("GET", "/"): PUBLIC,  # a redirect to /customers, which asks for the login
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/u/{token}"): PUBLIC,
    ("POST", "/u/{token}"): PUBLIC,
    ("GET", "/l/{token}"): PUBLIC,
    ("POST", "/reach/sms/{token}/report"): PUBLIC,
    ("POST", "/reach/sms/{token}/reply"): PUBLIC,
    ("POST", "/logout"): PUBLIC,  # ends whatever session the cookie names, if any
    # the member centre: customers sign in there with their own session, never a staff one
    ("GET", "/m/login"): PUBLIC,
    ("POST", "/m/login"): PUBLIC,
    ("POST", "/m/login/code"): PUBLIC,
    ("POST", "/m/logout"): PUBLIC,
    ("GET", "/m/wechat"): PUBLIC,
    ("GET", "/m/wechat/back"): PUBLIC,
    ("GET", "/m/"): PUBLIC,
    ("GET", "/m/code.svg"): PUBLIC,
    ("GET", "/m/points"): PUBLIC,
    ("GET", "/m/coupons"): PUBLIC,
    ("POST", "/m/coupons/claim"): PUBLIC,
    ("POST", "/m/benefits/claim"): PUBLIC,
    ("GET", "/m/orders"): PUBLIC,
    ("GET", "/m/profile"): PUBLIC,
    ("POST", "/m/profile"): PUBLIC,
    ("GET", "/m/privacy"): PUBLIC,
    ("POST", "/m/privacy/export"): PUBLIC,
    ("POST", "/m/privacy/delete"): PUBLIC,
    ("GET", "/MP_verify_{token}.txt"): PUBLIC,
    ("GET", "/r/{code}"): PUBLIC,  # a referral link: on to the invitation
    ("GET", "/m/invite/{code}"): PUBLIC,
    ("GET", "/m/referrals"): PUBLIC,
    ("GET", "/m/referrals/qr.svg"): PUBLIC,
    ("GET", "/m/referrals/poster.png"): PUBLIC,
    ("GET", "/m/fission"): PUBLIC,
    ("GET", "/f/{slug}"): PUBLIC,  # a form or survey: its own page token and Origin check
    ("POST", "/f/{slug}"): PUBLIC,
    ("POST", "/f/{slug}/code"): PUBLIC,
    ("GET", "/f/{slug}/thanks"): PUBLIC,
    ("GET", "/m/surveys"): PUBLIC,
    ("GET", "/customers"): P.customers_read,
    ("GET", "/customers/{customer_id}"): P.customers_read,
    ("POST", "/customers/{customer_id}"): P.customers_read,
    ("POST", "/customers/{customer_id}/do-not-disturb"): P.customers_consent,
    ("POST", "/customers/{customer_id}/consents"): P.customers_consent,
    ("POST", "/customers/{customer_id}/privacy/export"): P.privacy_export,
    ("POST", "/customers/{customer_id}/privacy/erase"): P.privacy_manage,
    ("GET", "/insight"): P.customers_read,
    ("GET", "/segments"): P.customers_read,
    ("GET", "/segments/new"): P.segments_write,
    ("GET", "/segments/{segment_id}"): P.customers_read,
    ("POST", "/dashboard/funnels"): P.metrics_write,
    ("POST", "/dashboard/funnels/{funnel_id}/delete"): P.metrics_write,
    ("GET", "/jobs"): (P.imports_run, P.traits_run, P.campaigns_write),  # any one of them
    ("GET", "/imports"): P.imports_run,
    ("POST", "/imports"): P.imports_run,
    ("POST", "/admin/users"): P.users_manage,
    ("POST", "/admin/users/{user_id}"): P.users_manage,
    ("POST", "/admin/apikeys"): P.apikeys_manage,
    ("POST", "/admin/apikeys/{prefix}/revoke"): P.apikeys_manage,
    ("POST", "/wecom/corps"): P.wecom_manage,
    ("GET", "/wecom/live-codes"): P.customers_read,
    ("POST", "/wecom/live-codes"): P.wecom_manage,
    ("POST", "/wecom/group-codes"): P.wecom_manage,
    ("GET", "/wecom/live-codes/{code_id}"): P.customers_read,
    ("GET", "/wecom/welcome"): P.customers_read,
    ("POST", "/wecom/welcome"): P.wecom_manage,
    ("GET", "/wecom/keywords"): P.customers_read,
    ("POST", "/wecom/keywords"): P.wecom_manage,
    ("GET", "/wecom/handovers"): P.customers_read,
    ("POST", "/wecom/handovers"): P.wecom_manage,
    ("GET", "/wecom/handovers/{handover_id}"): P.customers_read,
    ("POST", "/wecom/handovers/{handover_id}"): P.wecom_manage,
}
PARAMS = {"lang": "en", "action": "pause", "token": "not-a-token", "name": "none", "prefix": "ffff"}


def _routes(app: Any) -> list[tuple[str, str, str]]:
    """(method, path, declared permission) for every HTTP route of the app; an entry of
    ``CONSOLE`` for a route that declares its permission itself fails (one place says it)."""
    found: list[tuple[str, str, str]] = []

    def walk(routes: list[Any]) -> None:
        for r in routes:
            if hasattr(r, "original_router"):
                walk(r.original_router.routes)
            elif isinstance(r, APIRoute):
                for method in sorted(r.methods - {"HEAD"}):
                    found.append((method, r.path, _declared(r, method)))

    walk(app.routes)
    return found


def _declared(route: APIRoute, method: str) -> str:
    perms: list[str] = []

    def walk(dep: Any) -> None:
        for sub in dep.dependencies:
            call = sub.call
            if getattr(call, "__name__", "") == "check" and call.__closure__:
                perms.extend(
                    str(c.cell_contents)
                    for c in call.__closure__
                    if isinstance(c.cell_contents, Permission)
                )
            walk(sub)

    walk(route.dependant)
    if perms:
        assert (method, route.path) not in CONSOLE, f"{method} {route.path} declares its own"
        return perms[0]
    key = (method, route.path)
    assert key in CONSOLE, f"{method} {route.path}: no permission declared (require() or CONSOLE)"
    declared = CONSOLE[key]
    if isinstance(declared, tuple):  # any one of these permissions
        return " or ".join(str(p) for p in declared)
    return str(declared)


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m.group(1), "999999"), path)


def _outcome(client: TestClient, method: str, path: str, csrf: str | None) -> str:
    url = _url(path)
    api = path.startswith("/api/")
    headers = {"X-CSRF-Token": csrf} if csrf and api else {}
    kw: dict[str, Any] = {}
    if method != "GET":
        kw = {"json": {}} if api else {"data": {"csrf": csrf or ""}}
    r = client.request(method, url, headers=headers, follow_redirects=False, **kw)
    assert r.status_code < 500, f"{method} {url}: {r.status_code} {r.text[:300]}"
    if r.status_code == 401 or (
        r.status_code == 303 and r.headers["location"].startswith("/login")
    ):
        return "login"
    return "denied" if r.status_code == 403 else "allowed"


def _expected(declared: str, role: Role | None) -> str:
    if declared == PUBLIC:
        return "allowed"
    if role is None:
        return "login"
    if declared == LOGGED_IN or any(p in ROLE_PERMISSIONS[role] for p in declared.split(" or ")):
        return "allowed"
    return "denied"


def _markdown(rows: list[tuple[str, str, str, dict[str, str]]]) -> str:
    mark = {"allowed": "✓", "denied": "—", "login": "登录"}
    head = ["方法", "路径 route", "所需权限 permission", "未登录", *(r.value for r in ROLES)]
    lines = [
        "# 权限矩阵 Permission matrix",
        "",
        "Generated by tests/e2e/test_permission_matrix.py from requests made as every role; do",
        "not edit by hand (`SIYU_WRITE_MATRIX=1` rewrites it). ✓ allowed, — refused (403),",
        "登录 asks to log in first.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for method, path, declared, seen in rows:
        cells = [method, f"`{path}`", declared, *(mark[seen[k]] for k in ["anonymous", *ROLES])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def test_every_route_as_every_role(wecom: dict[str, Any]) -> None:
    """``wecom``: a connected corp, so WeCom forms reach their permission check (without one
    they only explain how to connect)."""
    from siyu.app import create_app
    from tests.e2e.conftest import make_user

    app = create_app()
    routes = _routes(app)
    assert len(routes) > 80
    clients: dict[Any, tuple[TestClient, str | None]] = {}
    with TestClient(app) as anonymous:
        clients["anonymous"] = (anonymous, None)
        for role in ROLES:
            name = f"m_{role.value}"
            make_user(name, role.value, store_code="s1" if role == Role.store_guide else None)
            c = TestClient(app)
            r = c.post("/login", data={"username": name, "password": "correct-horse-battery"})
            assert r.status_code == 200, r.text[:200]  # followed to the customer list or a 403
            clients[role] = (c, _csrf_of(name))
        rows, wrong = [], []
        for method, path, declared in routes:
            if path == "/logout":
                continue  # would end the session the other rows use; checked below
            seen = {}
            for who, (client, csrf) in clients.items():
                got = _outcome(client, method, path, csrf)
                want = _expected(declared, None if who == "anonymous" else who)
                seen["anonymous" if who == "anonymous" else who] = got
                if got != want:
                    wrong.append(
                        f"{method} {path} as {getattr(who, 'value', who)}: {got}, not {want}"
                    )
            rows.append((method, path, declared, seen))
        assert not wrong, "\n".join(wrong)
        for role in ROLES:
            client, csrf = clients[role]
            out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
            assert out.status_code == 303
            assert client.get("/customers", follow_redirects=False).status_code == 303
    doc = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
    text = _markdown(sorted(rows, key=lambda r: (r[1], r[0])))
    if os.environ.get("SIYU_WRITE_MATRIX"):
        doc.write_text(text, encoding="utf-8")
    assert doc.read_text(encoding="utf-8") == text, "docs/permissions.md is stale"


def _csrf_of(username: str) -> str:
    import sqlalchemy as sa

    from siyu.accounts.models import LoginSession, User
    from siyu.db import session_scope

    with session_scope() as s:
        token = s.scalar(
            sa.select(LoginSession.csrf_token)
            .join(User, User.id == LoginSession.user_id)
            .where(User.username == username)
        )
    assert token
    return token
