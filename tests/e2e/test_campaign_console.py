"""The campaign pages over HTTP: the form with its live preview, a template error shown in the
form, the detail page's funnel and skip reasons, start and cancel with CSRF, who may do what."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.conftest import login, make_user


def _form(world: dict[str, Any], csrf: str, **kw: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "name": "双12回购",
        "segment_id": str(world["segment"]),
        "channel": "sms",
        "purpose": "marketing",
        "sign_name": "悦颜",
        "template_code": "SMS_000001",
        "sms_text": "${name}您好，${offer}，拒收请回复R",
        "params": "name={{ name }}\noffer=满199减30",
        "holdout": "10",
        **kw,
    }


def test_campaign_pages(client: TestClient, world: dict[str, Any]) -> None:
    make_user("yunying", "operator")
    csrf = login(client, "yunying")
    assert "还没有活动" in client.get("/campaigns").text
    page = client.get("/campaigns/new")
    assert page.status_code == 200 and 'data-testid="campaign-form"' in page.text
    shown = client.post("/campaigns/preview", data=_form(world, csrf))
    assert "【悦颜】顾***您好，满199减30，拒收请回复R" in shown.text and "计 1 条" in shown.text
    assert "顾客00" not in shown.text  # the live preview runs as one types: masked, not audited
    typo = client.post("/campaigns/new", data=_form(world, csrf, params="name={{ nmae }}\noffer=x"))
    assert typo.status_code == 200 and "双12回购" in typo.text
    assert "params.name 第 1 行：没有变量 &#39;nmae&#39;" in typo.text  # said in Chinese
    stale = client.post("/campaigns/new", data=_form(world, "wrong"))
    assert "页面已过期" in stale.text
    made = client.post("/campaigns/new", data=_form(world, csrf))
    assert made.status_code == 303
    url = made.headers["location"]
    detail = client.get(url)
    assert "草稿" in detail.text and 'data-testid="campaign-start"' in detail.text
    assert client.post(f"{url}/start", data={"csrf": "x"}).text.count("页面已过期") == 1
    started = client.post(f"{url}/start", data={"csrf": csrf})
    assert started.status_code == 303
    after = client.get(url).text
    assert "发送中" in after
    from siyu.reach.sending.ledger import in_holdout

    held = re.search(r"对照组</th><td>(\d+)", after)
    assert held and int(held.group(1)) == sum(in_holdout(c, 0, 10) for c in world["phones"])
    assert client.post(f"{url}/cancel", data={"csrf": csrf}).status_code == 303
    cancelled = client.get(url).text
    assert "已取消" in cancelled and "活动已取消" in cancelled  # the skip reason, in words
    assert "群发活动" in client.get("/campaigns").text
    client.get("/lang/en?next=/campaigns")
    assert "Cancelled" in client.get(url).text
    assert client.get("/campaigns/999").status_code == 404


def test_analyst_sees_campaigns_but_cannot_plan_or_approve(
    client: TestClient, world: dict[str, Any]
) -> None:
    make_user("fenxi", "analyst")
    login(client, "fenxi")
    assert client.get("/campaigns").status_code == 200
    assert client.get("/campaigns/new").status_code == 403
    assert client.get("/campaigns/ambiguous").status_code == 403


def test_the_form_plans_fallback_schedule_and_ab(client: TestClient, world: dict[str, Any]) -> None:
    from datetime import datetime

    from siyu.config import get_settings
    from siyu.db import new_session
    from siyu.reach.models import Campaign

    make_user("yunying2", "operator")
    csrf = login(client, "yunying2")
    made = client.post(
        "/campaigns/new",
        data=_form(
            world,
            csrf,
            channel="wecom",
            fallback="sms",
            body="{{ store }}会员日：全场 8 折",
            variant_b_body="{{ store }}会员日：满 199 减 30",
            variant_b_params="name={{ name }}\noffer=满199减30",
            split_b="30",
            scheduled_at="2030-12-12T10:00",
            recurrence="weekly",
            audience_mode="live",
        ),
    )
    assert made.status_code == 303, made.text
    with new_session() as s:
        c = s.get(Campaign, int(made.headers["location"].rsplit("/", 1)[1]))
        assert c.channels == ["wecom", "sms"] and set(c.templates) == {"wecom", "sms"}
        assert [(v["key"], v["weight"]) for v in c.variants] == [("A", 70), ("B", 30)]
        assert c.variants[1]["templates"]["wecom"]["text"].endswith("满 199 减 30")
        local = c.scheduled_at.astimezone(get_settings().tz)
        assert local.replace(tzinfo=None) == datetime(2030, 12, 12, 10, 0)
        assert (c.recurrence, c.audience_mode) == ("weekly", "live")
    bad = client.post("/campaigns/new", data=_form(world, csrf, scheduled_at="明天"))
    assert bad.status_code == 200 and "年-月-日 时:分" in bad.text
    groups = client.post(
        "/campaigns/new",
        data=_form(
            world,
            csrf,
            channel="wecom_group",
            body="{{ name }}您好",
            group_name="会员",
            holdout="0",
        ),
    )
    assert groups.status_code == 200 and "整个群共用一段文字" in groups.text  # refused, in Chinese
