"""Loyalty from the outside: orders pushed over HTTP with an API key, and the `siyu loyalty`
commands an operator scripts (exit statuses, refusals, the backfill's summary)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from siyu.cli import app
from tests import platform_files as pf
from tests.e2e.conftest import declared

runner = CliRunner()


def siyu(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def _key(*scopes: str) -> str:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _k, secret = create_api_key(s, "pos", list(scopes))
    return secret


ORDER = {
    "order_id": "POS-1",
    "shop": "徐汇店",
    "store_code": "SH001",
    "status": "paid",
    "paid_fen": 26900,
    "ordered_at": "2026-12-07T10:00:00+08:00",
    "buyer": {"phone": "13812345678", "name": "<script>alert(1)</script>"},
    "lines": [{"sku": "SK-1", "name": '=HYPERLINK("x")', "category": "护肤", "amount_fen": 26900}],
}


def test_orders_are_pushed_idempotently_and_bad_ones_refused(client: TestClient) -> None:
    pos = {"Authorization": f"Bearer {_key('orders:write')}"}
    first = client.post("/api/v1/orders", json=ORDER, headers=pos)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "created"
    again = client.post("/api/v1/orders", json=ORDER, headers=pos)
    assert again.json() == {**first.json(), "status": "unchanged"}
    refunded = client.post(
        "/api/v1/orders", json={**ORDER, "status": "refunded", "refund_fen": 26900}, headers=pos
    )
    assert refunded.json()["status"] == "updated"
    answers = {
        "no key": client.post("/api/v1/orders", json=ORDER).status_code,
        "wrong scope": client.post(
            "/api/v1/orders",
            json=ORDER,
            headers={"Authorization": f"Bearer {_key('events:write')}"},
        ).status_code,
        "no buyer": client.post(
            "/api/v1/orders", json={**ORDER, "buyer": {}}, headers=pos
        ).status_code,
        "nested junk": client.post(
            "/api/v1/orders", json={**ORDER, "buyer": {"phone": [[["1"]]]}}, headers=pos
        ).status_code,
        "unknown brand": client.post(
            "/api/v1/orders", json={**ORDER, "brand": "nope"}, headers=pos
        ).status_code,
        "refund over paid": client.post(
            "/api/v1/orders",
            json={**ORDER, "order_id": "X", "status": "partially_refunded", "refund_fen": 99999},
            headers=pos,
        ).status_code,
    }
    assert answers == {
        "no key": 401,
        "wrong scope": 403,
        "no buyer": 422,
        "nested junk": 422,
        "unknown brand": 422,
        "refund over paid": 422,
    }
    assert set(answers.values()) <= declared(client, "post", "/api/v1/orders")


def test_a_programme_from_the_shell(tmp_path: Path) -> None:
    rows = [pf.taobao_row(f"80{i:02d}", f"tb_{i}", f"138123480{i:02d}", "100.00") for i in range(5)]
    assert (
        siyu(
            "import", "orders", str(pf.taobao(tmp_path / "tb.csv", rows)), "--source", "taobao"
        ).exit_code
        == 0
    )
    assert siyu("loyalty", "backfill", "vip").exit_code == 1  # no programme yet
    made = siyu("loyalty", "create", "vip", "会员计划", "--pending-days", "0")
    assert made.exit_code == 0, made.output
    assert siyu("loyalty", "create", "vip", "again").exit_code == 1
    assert siyu("loyalty", "create", "x", "y", "--months", "999").exit_code == 2
    no_rule = siyu("loyalty", "backfill", "vip")
    assert no_rule.exit_code == 1 and "spend rule" in no_rule.output
    assert siyu("loyalty", "rules", "spend", "vip", "100").exit_code == 0
    assert siyu("loyalty", "rules", "spend", "vip", "300", "--store", "none").exit_code == 1
    assert siyu("loyalty", "rules", "event", "vip", "签到", "5").exit_code == 0
    listed = siyu("loyalty", "rules", "list", "vip", "--json")
    assert {r["basis"] for r in json.loads(listed.stdout)} == {"spend", "event"}
    for customer in range(1, 4):
        assert siyu("loyalty", "enrol", "vip", "-c", str(customer)).exit_code == 0
    assert siyu("loyalty", "enrol", "vip", "-c", "999").exit_code == 1
    done = siyu("loyalty", "backfill", "vip", "--since", "2020-01-01", "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert (summary["orders"], summary["earned"], summary["points"]) == (5, 3, 300)
    assert (
        json.loads(siyu("loyalty", "backfill", "vip", "--since", "2020-01-01", "--json").stdout)[
            "earned"
        ]
        == 0
    )
    member = siyu("loyalty", "member", "1", "--json")
    assert json.loads(member.stdout)["spendable"] == 100
    assert siyu("loyalty", "member", "77").exit_code == 1
    assert siyu("loyalty", "expire").exit_code == 0


def test_tiers_from_the_shell(tmp_path: Path) -> None:
    rows = [pf.taobao_row("9001", "tb_t", "13812349001", "80.00")]
    siyu("import", "orders", str(pf.taobao(tmp_path / "tb.csv", rows)), "--source", "taobao")
    assert siyu("loyalty", "create", "vip", "会员计划", "--pending-days", "0").exit_code == 0
    assert siyu("loyalty", "tiers", "set", "vip", "normal", "普通", "--rank", "0").exit_code == 0
    gold = siyu(
        "loyalty", "tiers", "set", "vip", "gold", "金卡", "--rank", "1", "--threshold", "50"
    )
    assert gold.exit_code == 0, gold.output
    below = siyu("loyalty", "tiers", "set", "vip", "x", "银卡", "--rank", "2", "--threshold", "10")
    assert below.exit_code == 1 and "higher threshold" in below.output
    bad = siyu("loyalty", "tiers", "configure", "vip", "--measure", "vibes")
    assert bad.exit_code == 1
    assert siyu("loyalty", "tiers", "configure", "vip", "--window", "calendar").exit_code == 0
    assert siyu("loyalty", "rules", "spend", "vip", "100").exit_code == 0
    assert siyu("loyalty", "enrol", "vip", "-c", "1").exit_code == 0
    assert siyu("loyalty", "backfill", "vip", "--since", "2020-01-01").exit_code == 0
    assert "1 up" in siyu("loyalty", "tiers", "review").output
    listed = json.loads(siyu("loyalty", "tiers", "list", "vip", "--json").stdout)
    assert {t["code"]: t["members"] for t in listed} == {"normal": 0, "gold": 1}


def test_coupons_are_redeemed_over_http(client: TestClient, tmp_path: Path) -> None:
    pos = {"Authorization": f"Bearer {_key('orders:write')}"}
    assert client.post("/api/v1/orders", json=ORDER, headers=pos).status_code == 200
    assert siyu("loyalty", "create", "vip", "会员计划").exit_code == 0
    made = siyu(
        "loyalty",
        "coupons",
        "create",
        "vip",
        "c20",
        "满100减20",
        "--amount-fen",
        "2000",
        "--threshold-fen",
        "10000",
    )
    assert made.exit_code == 0, made.output
    assert siyu("loyalty", "enrol", "vip", "-c", "1").exit_code == 0
    issued = siyu(
        "loyalty", "coupons", "issue", "vip", "c20", "-m", "1", "--source", "s1", "--json"
    )
    code = json.loads(issued.stdout)["1"]
    till = {"Authorization": f"Bearer {_key('coupons:redeem')}"}
    body = {"order_id": "T1", "store_code": "SH001", "order_amount_fen": 12000}
    url = f"/api/v1/coupons/{code}/redeem"
    first = client.post(url, json=body, headers=till)
    assert first.json() == {"code": code, "discount_fen": 2000, "status": "redeemed"}
    assert client.post(url, json=body, headers=till).json() == first.json()
    answers = {
        "another order": client.post(url, json={**body, "order_id": "T2"}, headers=till),
        "unknown": client.post("/api/v1/coupons/ABCDEFGH2345/redeem", json=body, headers=till),
        "no key": client.post(url, json=body),
        "wrong scope": client.post(url, json=body, headers=pos),
        "unknown store": client.post(url, json={**body, "store_code": "X"}, headers=till),
        "bad code": client.post("/api/v1/coupons/%3Cscript%3E/redeem", json=body, headers=till),
        "bool amount": client.post(url, json={**body, "order_amount_fen": True}, headers=till),
    }
    statuses = {k: v.status_code for k, v in answers.items()}
    assert statuses == {
        "another order": 409,
        "unknown": 404,
        "no key": 401,
        "wrong scope": 403,
        "unknown store": 422,
        "bad code": 422,
        "bool amount": 422,
    }
    assert answers["bad code"].headers["content-type"] == "application/json"  # never a page
    assert set(statuses.values()) <= declared(client, "post", "/api/v1/coupons/{code}/redeem")


def test_balances_come_over_from_another_system(tmp_path: Path) -> None:
    from tests.conftest import write_csv

    rows = [pf.taobao_row(f"91{i:02d}", f"tb_{i}", f"1381235910{i}", "10.00") for i in range(3)]
    siyu("import", "orders", str(pf.taobao(tmp_path / "tb.csv", rows)), "--source", "taobao")
    assert siyu("loyalty", "create", "vip", "会员计划").exit_code == 0
    assert (
        siyu("loyalty", "tiers", "set", "vip", "normal", "普通会员", "--rank", "0").exit_code == 0
    )
    assert (
        siyu(
            "loyalty", "tiers", "set", "vip", "gold", "金卡", "--rank", "1", "--threshold", "5000"
        ).exit_code
        == 0
    )
    data = [
        ["手机号", "积分", "积分过期时间", "会员等级", "入会时间"],
        ["13812359100", "1,200", "2099-12-31", "金卡", "2021-05-01"],
        ["13812359100", "300", "", "金卡", "2021-05-01"],
        ["13812359101", "50", "2099-06-30", "普通会员", ""],
        ["13900000000", "10", "", "", ""],  # nobody with this phone
        ["13812359102", "=1+1", "", "", ""],
        ["13812359102", "10", "2001-01-01", "", ""],  # expired already
        ["13812359102", "10", "", "钻石", ""],  # no such tier
    ]
    file = write_csv(tmp_path / "youzan.csv", data[0], data[1:], encoding="gb18030")
    first = siyu("loyalty", "import-balances", "vip", str(file), "--json")
    assert first.exit_code == 0, first.output
    got = json.loads(first.stdout)
    assert (got["rows"], got["enrolled"], got["lots"], got["points"], got["tiers"]) == (
        7,
        2,
        3,
        1550,
        1,
    )
    assert sum(got["rejected"].values()) == 4
    rejects = Path(got["rejects_path"]).read_text(encoding="utf-8-sig")
    assert "'=1+1" in rejects and "import the members first" in rejects
    from datetime import timedelta

    from siyu import clock

    with clock.frozen(clock.now() + timedelta(days=1)):  # the same file, the next day
        again = json.loads(siyu("loyalty", "import-balances", "vip", str(file), "--json").stdout)
    assert (again["lots"], again["unchanged"], again["enrolled"]) == (0, 3, 0)
    member = json.loads(siyu("loyalty", "member", "1", "--json").stdout)
    assert member["spendable"] == 1500
    assert siyu("loyalty", "import-balances", "vip", str(tmp_path / "none.csv")).exit_code == 1
    bad = write_csv(tmp_path / "bad.csv", ["名字"], [["张三"]])
    assert siyu("loyalty", "import-balances", "vip", str(bad)).exit_code == 1


def test_coupon_rules_from_the_shell() -> None:
    assert siyu("loyalty", "create", "vip", "会员计划").exit_code == 0
    made = siyu("loyalty", "coupons", "create", "vip", "wel", "入会礼", "--amount-fen", "500")
    assert made.exit_code == 0, made.output
    assert "no rules yet" in siyu("loyalty", "coupons", "rules", "vip").output
    rule = siyu("loyalty", "coupons", "rule", "vip", "welcome", "--coupon", "wel", "--on", "joined")
    assert rule.exit_code == 0 and "gives wel on joined" in rule.output
    listed = json.loads(siyu("loyalty", "coupons", "rules", "vip", "--json").stdout)
    assert listed == [
        {"code": "welcome", "coupon": "wel", "on": "joined", "active": True, "issued": 0}
    ]
    for args, words in (
        (("--coupon", "nope", "--on", "joined"), "no coupon nope"),
        (("--coupon", "wel", "--on", "tier:gold"), "no tier gold"),
        (("--coupon", "wel", "--on", "birthday"), "a rule is on joined"),
    ):
        bad = siyu("loyalty", "coupons", "rule", "vip", "r2", *args)
        assert bad.exit_code != 0 and words in bad.output, (args, bad.output)
    assert len(json.loads(siyu("loyalty", "coupons", "rules", "vip", "--json").stdout)) == 1
    no_corp = siyu("loyalty", "coupons", "pool", "vip", "wel", "会员券")
    assert no_corp.exit_code != 0 and "Traceback" not in no_corp.output
