"""The customer 360: traits with provenance of scope, CLV, orders summary, persona, timeline —
over the API and on the console page."""

from __future__ import annotations

from datetime import timedelta

from siyu.i18n import in_language
from siyu.traits.labels import RFM_CLASS_LABELS, STAGE_LABELS
from siyu.traits.service import recompute
from tests import shop
from tests.e2e.conftest import login, make_user
from tests.integration.test_clv import CAL_END, simulate


def shopped(engine, settings, session) -> int:  # type: ignore[no-untyped-def]
    """2,000 simulated buyers of brand 1 (enough for a CLV fit); customer 1 also buys 护肤."""
    simulate(engine, 2_000, seed=4)
    shop.order(session, 1, 1, CAL_END - timedelta(days=3), 260, category="护肤")
    shop.order(session, 1, 1, CAL_END - timedelta(days=40), 80, category="彩妆")
    session.commit()
    recompute(engine, settings, reference_date=CAL_END + timedelta(days=1))
    return 1


def test_customer_api_returns_the_360(client, engine, settings, session, api_key) -> None:  # type: ignore[no-untyped-def]
    cid = shopped(engine, settings, session)
    c = client.get(f"/api/v1/customers/{cid}", headers={"Authorization": f"Bearer {api_key}"})
    assert c.status_code == 200
    data = c.json()
    scopes = [t["scope"] for t in data["traits"]]
    assert scopes == [0, 1] and data["traits"][1]["brand"] == "SIM"
    overall = data["traits"][0]
    assert overall["rfm_class"] in RFM_CLASS_LABELS and overall["lifecycle_stage"] in STAGE_LABELS
    assert 0 <= overall["p_alive"] <= 1 and overall["clv_fen"] >= 0
    assert overall["recency_days"] == 4
    summary = data["orders_summary"]
    assert summary["favourite_categories"][0] == {"category": "护肤", "spend_fen": 26000}
    assert summary["aov_fen"] == summary["net_spend_fen"] // summary["orders"]
    assert data["spend_fen"] == summary["net_spend_fen"]
    assert "偏好护肤" in data["persona"] and "近30天有购买" in data["persona"]
    times = [i["at"] for i in data["timeline"]]
    assert times == sorted(times, reverse=True) and {i["kind"] for i in data["timeline"]} == {
        "order"
    }


def test_console_customer_page_shows_the_360(client, engine, settings, session) -> None:  # type: ignore[no-untyped-def]
    cid = shopped(engine, settings, session)
    make_user("op", "operator")
    login(client, "op")
    page = client.get(f"/customers/{cid}").text
    for text in (
        "客户洞察",
        "购买概况",
        "时间线",
        "仍活跃概率",
        "客户终身价值 CLV",
        "全部品牌",
        "偏好护肤",
    ):
        assert text in page, text
    assert any(in_language("zh-CN", name) in page for name in RFM_CLASS_LABELS.values())
    fresh = shop.customer(session)
    session.commit()
    assert "还没有计算结果" in client.get(f"/customers/{fresh}").text


def test_tags_over_the_api_and_on_the_page(client, engine, settings, session) -> None:  # type: ignore[no-untyped-def]
    cid = shopped(engine, settings, session)
    make_user("op", "operator")
    h = {"X-CSRF-Token": login(client, "op")}
    assert (
        client.post(
            "/api/v1/tag-groups", json={"name": "肤质", "single": True}, headers=h
        ).status_code
        == 201
    )
    assert client.post("/api/v1/tag-groups", json={"name": "肤质"}, headers=h).status_code == 409
    assert client.post("/api/v1/tags", json={"path": "肤质/油性"}, headers=h).status_code == 201
    assert client.post("/api/v1/tags", json={"path": "发质/干"}, headers=h).status_code == 422
    put = client.post(
        "/api/v1/tags/assign",
        json={"path": "肤质/油性", "customer_ids": [cid], "phones": ["13900001111"]},
        headers=h,
    )
    assert put.json() == {"added": 1, "phones_not_found": ["13900001111"]}
    bad = client.post(
        "/api/v1/tag-rules", json={"path": "肤质/油性", "condition": {"kind": "x"}}, headers=h
    )
    assert bad.status_code == 422 and "unknown rule kind" in bad.json()["detail"]
    rule = client.post(
        "/api/v1/tag-rules",
        json={"path": "肤质/油性", "condition": {"kind": "city_in", "cities": ["上海"]}},
        headers=h,
    )
    assert rule.status_code == 201
    assert (
        client.delete(f"/api/v1/tag-rules/{rule.json()['id']}", headers=h).json()["deleted"]
        == rule.json()["id"]
    )
    assert client.delete("/api/v1/tag-rules/9999", headers=h).status_code == 404
    assert client.get("/api/v1/tags").json()[0]["tags"][0]["customers"] == {"manual": 1}
    detail = client.get(f"/api/v1/customers/{cid}").json()
    assert detail["tags"] == [
        {
            "group": "肤质",
            "tag": "油性",
            "source": "manual",
            "rule_id": None,
            "by": "user:op",
            "assigned_at": detail["tags"][0]["assigned_at"],
        }
    ]
    page = client.get(f"/customers/{cid}").text
    assert "肤质/油性" in page and "手动 user:op" in page
    assert client.post(
        "/api/v1/tags/unassign", json={"path": "肤质/油性", "customer_ids": [cid]}, headers=h
    ).json() == {"removed": 1}


def test_insight_page_shows_distribution_and_trend(client, engine, settings, session) -> None:  # type: ignore[no-untyped-def]
    import json
    import re

    make_user("an", "analyst")
    login(client, "an")
    assert 'data-testid="trend-empty"' in client.get("/insight").text
    shopped(engine, settings, session)
    recompute(engine, settings, reference_date=CAL_END + timedelta(days=60))
    page = client.get("/insight").text
    assert "生命周期分布" in page and "RFM 八类分布" in page and "CLV 分位数" in page
    data = json.loads(re.search(r'id="trend-data">(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    assert data["series"]["dates"] == ["2026-07-01", "2026-08-29"]
    lapsed = next(s for s in data["series"]["lifecycle"] if s["code"] == "lapsed")["counts"]
    assert lapsed[1] >= lapsed[0]  # two months on, more have lapsed
    assert "SIM" in page and client.get("/insight?scope=1").status_code == 200
    assert client.get("/static/vendor/echarts.min.js").status_code == 200
    # the model's parameters with their units: α in the time unit, v in yuan
    from siyu.traits.queries import latest_clv_model

    model = latest_clv_model(session)
    assert 'data-testid="clv-model"' in page and "CLV 模型参数" in page
    v = re.search(r'data-testid="clv-v">([0-9.]+) 元<', page)
    assert v is not None and float(v.group(1)) == round(model["gamma_gamma"]["v"], 2)
    assert f"{model['bgnbd']['alpha']:.4f} 天" in page
    client.get("/lang/en?next=/insight")
    assert " yuan</td>" in client.get("/insight").text


def test_a_demo_customer_page_shows_the_whole_360(client, session) -> None:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from siyu.demo.load import ensure_demo
    from siyu.tags.models import CustomerTag
    from siyu.traits.models import CustomerTrait

    ensure_demo(120, 5)
    tagged = set(session.scalars(sa.select(CustomerTag.customer_id)))
    scored = session.scalars(
        sa.select(CustomerTrait.customer_id).where(
            CustomerTrait.scope == 0, CustomerTrait.customer_id.in_(tagged)
        )
    ).first()
    assert scored is not None
    make_user("op", "operator")
    login(client, "op")
    page = client.get(f"/customers/{scored}").text
    for text in (
        "标签",
        "规则",
        "客户洞察",
        "RFM 分层",
        "生命周期",
        "购买概况",
        "时间线",
        'data-testid="persona"',
    ):
        assert text in page, text
    assert any(in_language("zh-CN", name) in page for name in STAGE_LABELS.values())
