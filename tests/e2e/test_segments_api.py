"""Segments over HTTP and from the shell: precise 4xx for bad rules, live count and preview,
refresh, export; the CLI's exit statuses."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from siyu.cli import app
from tests import platform_files as pf

runner = CliRunner()


def _seed(tmp_path: Path) -> None:
    rows = [
        pf.taobao_row("8001", "tb_a", "13812348001", "300.00"),
        pf.taobao_row("8002", "tb_b", "13812348002", "20.00"),
    ]
    out = runner.invoke(
        app, ["import", "orders", str(pf.taobao(tmp_path / "tb.csv", rows)), "--source", "taobao"]
    )
    assert out.exit_code == 0, out.output
    assert runner.invoke(app, ["analytics", "refresh"]).exit_code == 0


def _admin_key() -> str:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _key, secret = create_api_key(
            s, "seg", ["customers:read", "customers:export", "segments:write"]
        )
    return secret


def test_segments_over_http(client: TestClient, tmp_path: Path) -> None:
    _seed(tmp_path)
    h = {"Authorization": f"Bearer {_admin_key()}"}
    fields = client.get("/api/v1/segments/fields", headers=h).json()
    assert {"city", "orders.count", "tag", "rfm.class", "segment"} <= {f["name"] for f in fields}

    bad = client.post("/api/v1/segments", headers=h, json={"name": "x", "rule": "cty = 上海"})
    assert bad.status_code == 422 and bad.json()["detail"]["path"] == "field"
    nested = client.post(
        "/api/v1/segments",
        headers=h,
        json={"name": "x", "rule": {"all": [{"field": "city", "op": "~", "value": 1}]}},
    )
    assert nested.status_code == 422 and nested.json()["detail"]["path"] == "all[0].op"
    assert client.post("/api/v1/segments", headers=h, json={"name": "x"}).status_code == 422

    live = client.post("/api/v1/segments/count", headers=h, json={"rule": "orders.sum >= 100"})
    assert live.status_code == 200 and live.json()["count"] == 1 and live.json()["data_as_of"]
    pv = client.post("/api/v1/segments/preview", headers=h, json={"rule": "orders.count >= 1"})
    body = pv.json()
    assert body["count"] == 2 and len(body["sample"]) == 2
    assert all("****" in s["phone"] for s in body["sample"])
    assert body["reach"] == {"sms": 0, "email": 0, "wecom": 0}  # platform buyers: no consent

    made = client.post(
        "/api/v1/segments", headers=h, json={"name": "大单", "rule": "orders.sum >= 100"}
    )
    assert made.status_code == 201, made.text
    seg = made.json()["id"]
    again = client.post("/api/v1/segments", headers=h, json={"name": "大单", "rule": "city = a"})
    assert again.status_code == 409
    assert again.json()["detail"] == "a segment named '大单' already exists"
    zh = {**h, "Accept-Language": "zh-CN,zh;q=0.9"}  # what the console's builder sends
    taken = client.post("/api/v1/segments", headers=zh, json={"name": "大单", "rule": "city = a"})
    assert taken.status_code == 409 and taken.json()["detail"] == "已有名为 '大单' 的分群。"
    typo = client.post("/api/v1/segments/count", headers=zh, json={"rule": "cty = 上海"})
    assert typo.status_code == 422
    assert typo.json()["detail"]["path"] == "field"
    assert typo.json()["detail"]["reason"].startswith("没有字段 'cty'")
    english = client.post("/api/v1/segments/count", headers=h, json={"rule": "cty = 上海"})
    assert english.json()["detail"]["reason"].startswith("unknown field 'cty'")
    gone = client.get("/api/v1/segments/999", headers=zh)
    assert gone.status_code == 404 and gone.json()["detail"] == "没有编号为 999 的分群。"
    refreshed = client.post(f"/api/v1/segments/{seg}/refresh", headers=h).json()
    assert refreshed["outcomes"][0]["size"] == 1
    detail = client.get(f"/api/v1/segments/{seg}", headers=h).json()
    assert detail["size"] == 1 and len(detail["history"]) == 1
    export = client.get(f"/api/v1/segments/{seg}/export", headers=h)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    document = client.get("/api/openapi.json").json()
    answer = document["paths"]["/api/v1/segments/{segment_id}/export"]["get"]["responses"]["200"]
    assert list(answer["content"]) == ["text/csv"]  # as declared, not JSON
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [r["phone"] for r in rows] == ["138****8001"]
    assert client.get(f"/api/v1/segments/{seg}/export?unmask=true", headers=h).status_code == 403
    assert client.get("/api/v1/segments/999", headers=h).status_code == 404
    assert client.delete(f"/api/v1/segments/{seg}", headers=h).status_code == 204


def test_segments_from_the_shell(tmp_path: Path) -> None:
    _seed(tmp_path)
    made = runner.invoke(
        app, ["segments", "create", "大单", "--rule", "orders.sum >= 100", "--json"]
    )
    assert made.exit_code == 0, made.output
    seg = json.loads(made.stdout)["id"]
    bad = runner.invoke(app, ["segments", "create", "坏", "--rule", "orders(last 9x).count = 1"])
    assert bad.exit_code == 1 and "expected days" in bad.output
    counted = runner.invoke(app, ["segments", "count", str(seg), "--json"])
    assert counted.exit_code == 0 and json.loads(counted.stdout)["count"] == 1
    assert runner.invoke(app, ["segments", "count"]).exit_code == 1
    assert runner.invoke(app, ["segments", "refresh"]).exit_code == 0
    out = tmp_path / "seg.csv"
    exported = runner.invoke(app, ["segments", "export", str(seg), str(out)])
    assert exported.exit_code == 0 and "wrote 1 customers" in exported.stdout
    assert runner.invoke(app, ["segments", "export", "99", str(out)]).exit_code == 1
    phones = tmp_path / "phones.txt"
    phones.write_text("13812348002\n13999999999\n", encoding="utf-8")
    listed = runner.invoke(app, ["segments", "import-list", "名单", str(phones)])
    assert (
        listed.exit_code == 0
        and "1 customers" in listed.stdout
        and "matched nobody" in listed.stdout
    )
    shown = runner.invoke(app, ["segments", "list"])
    assert "大单" in shown.stdout and "名单" in shown.stdout


def test_console_segment_pages_and_builder_calls(client: TestClient, tmp_path: Path) -> None:
    """The pages render; the builder's own calls (cookie + CSRF header) work as it makes them."""
    from tests.e2e.conftest import login, make_user

    _seed(tmp_path)
    make_user("op", "operator")
    make_user("guide", "store_guide", "S1")
    csrf = login(client, "op")
    empty = client.get("/segments")
    assert empty.status_code == 200 and 'data-testid="segments-empty"' in empty.text
    builder = client.get("/segments/new")
    assert builder.status_code == 200 and "/static/segment_builder.js" in builder.text
    assert client.get("/static/segment_builder.js").status_code == 200
    assert client.get("/api/v1/segments/fields").status_code == 200
    rule = {"all": [{"field": "orders.sum", "op": ">=", "value": 100}]}
    no_csrf = client.post("/api/v1/segments/preview", json={"rule": rule})
    assert no_csrf.status_code == 403
    h = {"X-CSRF-Token": csrf}
    pv = client.post("/api/v1/segments/preview", json={"rule": rule}, headers=h)
    assert pv.status_code == 200 and pv.json()["count"] == 1
    made = client.post("/api/v1/segments", json={"name": "大单", "rule": rule}, headers=h)
    assert made.status_code == 201
    seg = made.json()["id"]
    client.post(f"/api/v1/segments/{seg}/refresh", headers=h)
    page = client.get(f"/segments/{seg}")
    assert page.status_code == 200 and 'data-testid="size-chart"' in page.text
    assert "orders.sum &gt;= 100" in page.text or "orders.sum >= 100" in page.text
    listed = client.get("/segments")
    assert "大单" in listed.text
    assert client.get("/segments/999").status_code == 404
    client.post("/logout", data={"csrf": csrf})
    login(client, "guide")
    assert client.get("/segments/new").status_code == 403  # guides do not define segments
