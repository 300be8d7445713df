"""What every answer carries and how every route reads its query, over HTTP in process: the
Content-Security-Policy and no-store on the console's pages, exports and API answers; an empty
query value read as "not given" everywhere (the dashboard's export with its default filter
used to answer 422); the API docs served from Siyu's own files with the API key declared."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from tests.integration.test_metrics import fixture  # noqa: F401 - the November fixture

NOV = "start=2026-11-01&end=2026-11-30"


def _key(*scopes: str) -> dict[str, str]:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _k, secret = create_api_key(s, "hardening", list(scopes))
    return {"Authorization": f"Bearer {secret}"}


def _admin(client: TestClient) -> None:
    from tests.e2e.conftest import login, make_user

    make_user("guanli", "admin")
    login(client, "guanli")


def test_the_dashboard_export_with_its_default_filter(client: TestClient, fixture: None) -> None:  # noqa: F811
    """导出 CSV as the dashboard links it when no brand or store is picked: ``brand=&store=``."""
    _admin(client)
    page = client.get("/dashboard").text
    href = html.unescape(re.search(r'data-testid="dashboard-csv" href="([^"]+)"', page).group(1))
    assert "brand=&store=" in href
    sheet = client.get(href)
    assert sheet.status_code == 200, sheet.text
    assert sheet.headers["content-type"].startswith("text/csv")
    start, end = re.search(r"start=([\d-]+)&end=([\d-]+)", href).groups()
    assert sheet.text == client.get(f"/dashboard.csv?start={start}&end={end}").text  # all of it
    # the filter form as a browser sends it with "all brands", "all stores"
    assert client.get(f"/dashboard?{NOV}&brand=&store=&funnel=").status_code == 200


def test_an_empty_query_value_means_not_given_everywhere(
    client: TestClient,
    fixture: None,  # noqa: F811
) -> None:
    _admin(client)
    for url in [
        f"/dashboard.csv?{NOV}&brand=&store=",
        f"/dashboard.csv?{NOV}&brand=+&store=%20",  # spaces alone are blank too
        f"/dashboard.csv?{NOV}&brand&store",
        "/customers?q=&source=&store_id=&page=",
        "/admin/audit?actor=&action=&start=&end=&page=",
        "/admin/audit.csv?actor=&action=&start=&end=",
        '/dashboard/customers?rule={"field":"lifecycle","op":"=","value":"new"}&brand=&page=',
        "/insight?scope=",
        "/wecom/live-codes?page=",
    ]:
        got = client.get(url)
        assert got.status_code == 200, f"{url}: {got.status_code} {got.text[:200]}"
    h = _key("metrics:read", "customers:read")
    for url in [
        "/api/v1/metrics/overview?from=2026-11-01&to=2026-11-30&brand_id=&store_id=",
        "/api/v1/customers?q=&source=&page=&per_page=",
    ]:
        got = client.get(url, headers=h)
        assert got.status_code == 200, f"{url}: {got.status_code} {got.text[:200]}"
    # only blanks go: a value that is there is still checked, and a required one still missing
    assert client.get(f"/dashboard.csv?{NOV}&brand=abc").status_code == 422
    assert client.get("/api/v1/metrics/overview?from=&to=2026-11-30", headers=h).status_code == 422
    listed = client.get("/api/v1/customers?q=&source=taobao&per_page=", headers=h).json()
    assert {c["source"] for c in listed["items"]} == {"taobao"}


def test_every_answer_carries_the_policy_and_personal_data_is_not_stored(
    client: TestClient,
    fixture: None,  # noqa: F811
) -> None:
    from siyu.customers.models import Customer
    from siyu.db import session_scope
    from siyu.webkit import CONTENT_SECURITY_POLICY

    policy = dict(p.strip().split(" ", 1) for p in CONTENT_SECURITY_POLICY.split(";"))
    assert policy["script-src"] == "'self'" and policy["object-src"] == "'none'"
    assert "unsafe" not in policy["script-src"] + policy["style-src"] + policy["default-src"]
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    anonymous = [client.get("/login"), client.get("/u/not-a-token"), client.get("/api/docs")]
    _admin(client)
    with session_scope() as s:
        someone = s.query(Customer.id).first()[0]
    pages = [
        *anonymous,
        client.get("/customers"),
        client.get(f"/customers/{someone}"),
        client.get(f"/dashboard?{NOV}"),
        client.get(f"/dashboard.csv?{NOV}"),
        client.get("/admin/audit.csv"),
        client.get("/customers/999999"),  # a 404 page too
        client.get(f"/api/v1/customers/{someone}", headers=_key("customers:read")),
    ]
    for answer in pages:
        where = answer.request.url.path
        assert answer.headers.get("content-security-policy") == CONTENT_SECURITY_POLICY, where
        assert answer.headers.get("cache-control") == "no-store", where
    static = client.get("/static/siyu.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")


def test_the_api_docs_come_from_siyu_and_declare_the_api_key(client: TestClient) -> None:
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    text = docs.text
    assert "http://" not in text and "https://" not in text  # no CDN
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", text, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', text)
    assert "/static/vendor/swagger-ui-bundle.js" in assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    schema = client.get("/api/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert list(schemes) == ["APIKey"]
    assert schemes["APIKey"]["type"] == "http" and schemes["APIKey"]["scheme"] == "bearer"
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert operations and all(op.get("security") == [{"APIKey": []}] for op in operations)


def test_every_operation_declares_the_answers_given_before_its_code_runs(
    client: TestClient,
) -> None:
    """401 and 403 (the key or login, the permission), 400 (a NUL in the address, JSON not in
    UTF-8), 413 and 415 where a body is taken: answered in front of every route, so declared on
    every operation; every refusal's body is one declared shape, its ``detail`` words, a list
    of fields or an object (a contract test found them answered but undeclared, and 422s in
    words where the document promised FastAPI's list)."""
    document = client.get("/api/openapi.json").json()
    refusal = {"$ref": "#/components/schemas/Refusal"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = operation["responses"]
            assert {"400", "401", "403"} <= set(answers), (method, path)
            if "requestBody" in operation:
                assert {"413", "415", "422"} <= set(answers), (method, path)
            for status, answer in answers.items():
                if status.startswith("4"):
                    assert answer["content"]["application/json"]["schema"] == refusal
    detail = document["components"]["schemas"]["Refusal"]["properties"]["detail"]["anyOf"]
    assert [d["type"] for d in detail] == ["string", "array", "object"]

    h = _key("customers:read")
    answers = [
        client.get("/api/v1/customers"),  # 401
        client.post("/api/v1/tags", headers=h, json={"name": "x"}),  # 403: no tags:write
        client.get("/api/v1/customers?q=a%00b", headers=h),  # 400: a NUL
        client.post(
            "/api/v1/segments/count",
            headers={**h, "Content-Type": "application/json"},
            content='{"rule": "城市"}'.encode("utf-16"),
        ),  # 400: not UTF-8
        client.post("/api/v1/events", headers=h, files={"f": ("a.json", b"{}")}),  # 415
        client.get("/api/v1/wecom/benefit-pools", headers=h),  # 422 in words: no corp
        client.get("/api/v1/customers?page=0", headers=h),  # 422 as fields
    ]
    assert [a.status_code for a in answers] == [401, 403, 400, 400, 415, 422, 422]
    assert all(list(a.json()) == ["detail"] for a in answers)
    assert isinstance(answers[-2].json()["detail"], str)
    assert isinstance(answers[-1].json()["detail"], list)


def test_authentication_is_unchanged_by_the_declared_scheme(client: TestClient) -> None:
    nobody = client.get("/api/v1/customers")
    assert nobody.status_code == 401 and "API key" in nobody.json()["detail"]
    wrong = client.get("/api/v1/customers", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid or revoked API key"
    basic = client.get("/api/v1/customers", headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 401  # not an API key, and no login either
    assert client.get("/api/v1/customers", headers=_key("customers:read")).status_code == 200
    lower = {"authorization": _key("customers:read")["Authorization"].replace("Bearer", "bearer")}
    assert client.get("/api/v1/customers", headers=lower).status_code == 200
