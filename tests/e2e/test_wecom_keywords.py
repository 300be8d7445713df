"""Keyword auto-replies end to end: simulated customers write to a WeChat Customer Service
account (and members to the app), WeCom sends encrypted callbacks, the worker reads the
messages with kf/sync_msg, answers with kf/send_msg or message/send, hands out benefit codes
(one per customer) and tags the customer."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import declared
from tests.wecom_sim import pump_inbox


@pytest.fixture()
def rules(driver: Any) -> dict[str, Any]:
    from siyu.db import session_scope
    from siyu.tags.service import add_group, add_tag
    from siyu.wecom.connection.service import get_corp
    from siyu.wecom.replies.service import RuleSpec, add_rule, load_codes

    world = driver.world
    with session_scope() as s:
        corp = get_corp(s, world.corp_id)
        add_group(s, "意向", single=False, actor="test")
        add_tag(s, "意向/领券", actor="test")
        load_codes(s, corp.id, "双11券", ["\ufeffCODE-A", "CODE-B", "", "CODE-A"], actor="test")
        coupon = add_rule(
            s,
            corp.id,
            RuleSpec(
                "领券",
                "words",
                "优惠券 领券",
                "您的专属券码:{{ code }}",
                pool="双11券",
                tag_paths=("意向/领券",),
            ),
            actor="test",
        )
        address = add_rule(
            s, corp.id, RuleSpec("地址", "exact", "地址", "上海市静安区南京西路1号"), actor="test"
        )
        refund = add_rule(
            s,
            corp.id,
            RuleSpec("退货", "regex", r"^退(货|款)", "请在订单页申请售后", channels=("kf",)),
            actor="test",
        )
        ids = {"coupon": coupon.id, "address": address.id, "refund": refund.id}
    return {"world": world, "kf": world.add_kf_account("官方客服"), **ids}


def _replies(session: Any) -> list[Any]:
    from siyu.wecom.replies.models import KeywordReply

    session.expire_all()
    return list(session.scalars(sa.select(KeywordReply).order_by(KeywordReply.id)))


def test_benefits_one_per_customer_tags_and_exhaustion(
    driver: Any, rules: dict[str, Any], session: Any
) -> None:
    from siyu.tags.models import CustomerTag
    from siyu.wecom.contacts.models import WecomAlert
    from siyu.wecom.replies.models import BenefitCode

    world, kf = rules["world"], rules["kf"]
    a, b, c = (world.new_customer(n) for n in ("甲", "乙", "丙"))
    assert driver.kf_write(kf, a, "请问有优惠券吗?").status_code == 200
    assert pump_inbox() == 1
    assert world.kf_sent[-1]["touser"] == a.external_userid
    assert world.kf_sent[-1]["text"]["content"] == "您的专属券码:CODE-A"
    # asking again gives the same code, not a second one
    driver.kf_write(kf, a, "再领券")
    pump_inbox()
    assert world.kf_sent[-1]["text"]["content"] == "您的专属券码:CODE-A"
    driver.kf_write(kf, b, "领券")
    driver.kf_write(kf, c, "领券")
    pump_inbox()
    assert [m["text"]["content"] for m in world.kf_sent[-2:]] == [
        "您的专属券码:CODE-B",
        "本次福利已领完,感谢关注!",
    ]
    replies = _replies(session)
    assert [r.status for r in replies] == ["sent"] * 4
    assert [r.benefit_code for r in replies] == ["CODE-A", "CODE-A", "CODE-B", None]
    holders = session.scalars(sa.select(BenefitCode.customer_id).order_by(BenefitCode.code))
    assert list(holders) == [replies[0].customer_id, replies[2].customer_id]
    assert session.scalar(sa.select(sa.func.count()).select_from(BenefitCode)) == 2
    tagged = set(session.scalars(sa.select(CustomerTag.customer_id)))
    assert tagged == {r.customer_id for r in replies}
    alerts = list(session.scalars(sa.select(WecomAlert.kind)))
    assert alerts == ["benefit_exhausted"]


def test_each_message_answered_once_and_unmatched_not_answered(
    driver: Any, rules: dict[str, Any], session: Any
) -> None:
    from siyu.db import session_scope
    from siyu.wecom.replies.models import KfCursor

    world, kf = rules["world"], rules["kf"]
    a = world.new_customer("甲")
    driver.kf_write(kf, a, "你好")
    driver.kf_write(kf, a, "地址")
    driver.kf_write(kf, a, "退货怎么弄")
    pump_inbox()
    assert [m["text"]["content"] for m in world.kf_sent] == [
        "上海市静安区南京西路1号",
        "请在订单页申请售后",
    ]
    assert [r.status for r in _replies(session)] == ["no_match", "sent", "sent"]
    # the cursor is lost (say, restored from an old backup): every message is read again,
    # and none is answered twice
    with session_scope() as s:
        s.execute(sa.update(KfCursor).values(cursor=""))
    driver.kf_write(kf, a, "地址")
    pump_inbox()
    assert len(world.kf_sent) == 3 and len(_replies(session)) == 4
    # WeCom sending the same event twice (a retry with a new nonce) is stored once
    from siyu.wecom.callbacks.models import WecomCallback

    stored = session.scalar(sa.select(sa.func.count()).select_from(WecomCallback))
    fields = driver._event("kf_msg_or_event", Token="ENCx", OpenKfId=kf)
    for _ in range(2):
        body, query = driver.envelope(fields)
        r = driver.http.post(driver.callback_url, params=query, content=body)
        assert r.status_code == 200
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(WecomCallback)) == stored + 1


def test_reply_window_and_quota_are_respected(
    driver: Any, rules: dict[str, Any], session: Any
) -> None:
    world, kf = rules["world"], rules["kf"]
    old, busy = world.new_customer("旧"), world.new_customer("忙")
    real_clock = world.clock
    world.clock = lambda: real_clock() - 49 * 3600  # this message was written 49 hours ago
    driver.kf_write(kf, old, "地址")
    world.clock = real_clock
    driver.kf_write(kf, busy, "地址")
    world.kf_state[(kf, busy.external_userid)].replies = 5  # others already used the quota
    pump_inbox()
    replies = _replies(session)
    assert [(r.status, r.errcode) for r in replies] == [("window_closed", 0), ("quota", 95001)]
    assert world.kf_sent == []


def test_app_messages_answered_through_message_send(
    driver: Any, rules: dict[str, Any], session: Any
) -> None:
    world = rules["world"]
    driver.app_text("guide001", "地址")
    driver.app_text("guide002", "退货")  # the refund rule is for customer service only
    pump_inbox()
    assert [(m["touser"], m["text"]["content"]) for m in world.app_sent] == [
        ("guide001", "上海市静安区南京西路1号")
    ]
    assert [r.status for r in _replies(session)] == ["sent", "no_match"]


def test_rules_are_checked_before_they_are_stored(driver: Any, session: Any) -> None:
    from siyu.db import session_scope
    from siyu.wecom.connection.service import get_corp
    from siyu.wecom.replies.models import KeywordRule
    from siyu.wecom.replies.service import KeywordError, RuleSpec, add_rule

    bad = [
        (RuleSpec("x", "fuzzy", "a", "r"), "match"),
        (RuleSpec("x", "regex", "(", "r"), "regular expression"),
        (RuleSpec("x", "regex", "(a|aa)+$", "r"), "too slow"),  # would stall the worker
        (RuleSpec("x", "regex", "(?:a{1000}){1000}", "r"), "repeat counts"),
        (RuleSpec("x", "exact", "", "r"), "pattern"),
        (RuleSpec("x", "exact", "a", ""), "reply text or a benefit pool"),
        (RuleSpec("x", "exact", "a", "r", pool="没有的池"), "no benefit pool"),
        (RuleSpec("x", "exact", "a", "r", channels=("sms",)), "channel"),
        (RuleSpec("x", "exact", "a", "r", tag_paths=("无/此标签",)), "no tag"),
        (RuleSpec("x", "exact", "a", "r", priority=2**70), "priority"),  # the CLI's int
        (RuleSpec("x", "exact", "a", "r", priority=-1), "priority"),
    ]
    for spec, why in bad:
        with session_scope() as s, pytest.raises(KeywordError, match=why):
            add_rule(s, get_corp(s, driver.world.corp_id).id, spec, actor="test")
    assert session.scalar(sa.select(sa.func.count()).select_from(KeywordRule)) == 0


def test_keyword_api_and_cli(driver: Any, client: Any, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app
    from tests.e2e.conftest import login, make_user

    make_user("ops", "operator")
    make_user("guide", "store_guide", "s01")
    h = {"X-CSRF-Token": login(client, "ops")}
    bad = client.post(
        "/api/v1/wecom/keywords",
        headers=h,
        json={"name": "x", "match": "regex", "pattern": "(", "reply_text": "r"},
    )
    assert bad.status_code == 422 and "regular expression" in bad.text
    loaded = client.post(
        "/api/v1/wecom/benefit-pools/会员券/codes", headers=h, json={"codes": ["V1", "V2", "V1"]}
    )
    assert loaded.json()["added"] == 2 and loaded.json()["already_in_pool"] == 1
    made = client.post(
        "/api/v1/wecom/keywords",
        headers=h,
        json={"name": "会员", "pattern": "会员", "pool": "会员券", "channels": ["kf"]},
    )
    assert made.status_code == 201 and made.json()["pool"] == "会员券"
    rule_id = made.json()["id"]
    assert client.patch(
        f"/api/v1/wecom/keywords/{rule_id}", headers=h, json={"active": False}
    ).json() == {"id": rule_id, "active": False}
    assert (
        client.patch("/api/v1/wecom/keywords/999", headers=h, json={"active": False}).status_code
        == 404
    )
    assert 404 in declared(client, "PATCH", "/api/v1/wecom/keywords/{rule_id}")
    assert client.get("/api/v1/wecom/benefit-pools").json()[0]["left"] == 2
    assert client.get("/api/v1/wecom/keyword-replies").json() == []
    # a store guide may read but not change rules
    client.cookies.clear()
    hg = {"X-CSRF-Token": login(client, "guide")}
    assert client.get("/api/v1/wecom/keywords").status_code == 200
    denied = client.post(
        "/api/v1/wecom/keywords", headers=hg, json={"name": "x", "pattern": "x", "reply_text": "y"}
    )
    assert denied.status_code == 403
    # the CLI: a pool from a file, a rule, the list
    codes = tmp_path / "codes.txt"
    codes.write_text("\ufeffC1\nC2\n\n" + "x" * 80 + "\n", encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["wecom", "benefit", "load", "新客券", str(codes), "--json"])
    assert out.exit_code == 0, out.output
    assert '"added": 2' in out.output and '"line": 4' in out.output
    out = runner.invoke(
        app, ["wecom", "keyword", "add", "新客", "--pattern", "新客", "--pool", "新客券"]
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(
        app, ["wecom", "keyword", "add", "坏", "--pattern", "x", "--match", "fuzzy", "--reply", "r"]
    )
    assert out.exit_code == 1 and "match" in out.output
    out = runner.invoke(app, ["wecom", "keyword", "list"])
    assert "新客" in out.output and "off" in out.output


def test_a_reply_that_cannot_be_rendered_sends_nothing_and_is_recorded(
    driver: Any, rules: dict[str, Any], session: Any
) -> None:
    from siyu.db import session_scope
    from siyu.wecom.connection.service import get_corp
    from siyu.wecom.contacts.models import WecomAlert
    from siyu.wecom.replies.models import KeywordRule
    from siyu.wecom.replies.service import KeywordError, RuleSpec, add_rule, load_codes

    world, kf = rules["world"], rules["kf"]
    with session_scope() as s:
        corp_pk = get_corp(s, world.corp_id).id
        for reply, why in [
            ("{{ 'x'.ljust(1500000000) }}", "'.ljust' cannot be used"),
            ("券码 {{ code }}\n{{ code + 1 }}", "reply line 2: the template failed: TypeError"),
            ("{{ name }}", "unknown variable 'name'"),
            ("{% for i in range(10**6) %}{% endfor %}", "at most 1000 numbers"),
        ]:
            with pytest.raises(KeywordError, match=why):  # checked when the rule is saved
                add_rule(s, corp_pk, RuleSpec("坏", "exact", "坏", reply), actor="test")
        # a rule stored before replies were checked: it fails for everyone
        old = KeywordRule(corp_id=corp_pk, name="旧规则", match="exact", pattern="旧")
        old.reply_text, old.channels, old.priority, old.active = "{{ 1 // 0 }}", ["kf"], 1, True
        s.add(old)
        # one that saves (1,980 characters with the sample code) but not with a longer code
        load_codes(s, corp_pk, "长券", ["LONG-CODE-0000000001"], actor="test")
        spec = RuleSpec("长", "exact", "长", "{{ code * 220 }}", pool="长券", channels=("kf",))
        add_rule(s, corp_pk, spec, actor="test")
    a, b = world.new_customer("甲"), world.new_customer("乙")
    driver.kf_write(kf, a, "旧")
    driver.kf_write(kf, b, "长")
    pump_inbox()
    replies = _replies(session)
    assert [r.status for r in replies] == ["render_error", "render_error"]
    assert replies[1].benefit_code == "LONG-CODE-0000000001"  # held: asking again gives it
    assert world.kf_sent == []  # nothing was sent: not a broken text, not the template source
    alerts = list(session.scalars(sa.select(WecomAlert.message)))
    assert len(alerts) == 1 and "旧规则" in alerts[0] and "ZeroDivisionError" in alerts[0]


def test_a_keyword_gives_members_a_programme_coupon_once(driver: Any, session: Any) -> None:
    """Coupons by keyword reply (issue 25 §4, reusing the benefit pools): a pool backed by a
    programme's coupon issues one to the member who asks, the same again when they ask
    again; a customer who is not a member is told how to join; when the coupon's total is
    given out the pool's exhausted text is said and the team alerted."""
    from siyu.db import session_scope
    from siyu.loyalty.coupons.keywords import keyword_pool
    from siyu.loyalty.coupons.models import Coupon
    from siyu.loyalty.coupons.service import create_template
    from siyu.loyalty.service import create_programme, enrol
    from siyu.wecom.connection.service import get_corp
    from siyu.wecom.contacts.models import WecomAlert
    from siyu.wecom.replies.models import KeywordReply
    from siyu.wecom.replies.service import RuleSpec, add_rule, load_codes, pool_stock

    world = driver.world
    kf = world.add_kf_account("官方客服")
    with session_scope() as s:
        corp = get_corp(s, world.corp_id)
        programme = create_programme(s, "vip", "会员计划")
        create_template(s, programme, "c5", "无门槛5元", "amount_off", amount_fen=500, total=1)
        keyword_pool(s, programme, "c5", corp.id, "会员券", actor="test")
        add_rule(
            s,
            corp.id,
            RuleSpec("会员券", "contains", "会员券", "券码 {{ code }}", pool="会员券"),
            actor="test",
        )
        with pytest.raises(Exception, match="issued when claimed"):
            load_codes(s, corp.id, "会员券", ["X1"], actor="test")
    a, b = world.new_customer("甲"), world.new_customer("乙")
    driver.kf_write(kf, a, "我要会员券")
    pump_inbox()
    assert "先加入会员" in world.kf_sent[-1]["text"]["content"]
    assert "/m/login" in world.kf_sent[-1]["text"]["content"]
    with session_scope() as s:
        who = {r.sender: r.customer_id for r in s.scalars(sa.select(KeywordReply))}
        programme = s.merge(programme)
        member = enrol(s, programme, who[a.external_userid], channel="wecom").id
        assert who[a.external_userid] is not None
    driver.kf_write(kf, a, "会员券")
    driver.kf_write(kf, a, "再要一张会员券")
    pump_inbox()
    code = session.scalar(sa.select(Coupon.code).where(Coupon.member_id == member))
    assert [m["text"]["content"] for m in world.kf_sent[-2:]] == [f"券码 {code}"] * 2
    assert session.scalar(sa.select(sa.func.count()).select_from(Coupon)) == 1
    driver.kf_write(kf, b, "会员券")
    pump_inbox()
    with session_scope() as s:
        who = {r.sender: r.customer_id for r in s.scalars(sa.select(KeywordReply))}
        enrol(s, s.merge(programme), who[b.external_userid], channel="wecom")
    driver.kf_write(kf, b, "会员券")
    pump_inbox()
    assert world.kf_sent[-1]["text"]["content"] == "本次福利已领完,感谢关注!"  # total 1
    assert list(session.scalars(sa.select(WecomAlert.kind))) == ["benefit_exhausted"]
    with session_scope() as s:
        stock = pool_stock(s, get_corp(s, world.corp_id).id)
    assert [(p["name"], p["claimed"], p["left"]) for p in stock] == [("会员券", 1, None)]
    assert stock[0]["issued_by"].startswith("loyalty:")
