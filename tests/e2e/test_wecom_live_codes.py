"""Live codes and welcome messages end to end: a simulated customer scans a code, WeCom sends an
encrypted callback, the worker welcomes them, tags them and moves the code to the next guide."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import declared
from tests.wecom_sim import pump_inbox


def _synced(world: Any) -> Any:
    from siyu.db import new_session
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.contacts.sync import sync

    with new_session() as s:
        corp = get_corp(s, world.corp_id)
        sync(s, corp, client_for(s, corp))
        return corp.id


def _create(world: Any, **kw: Any) -> int:
    from siyu.db import session_scope
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.live_codes.service import create_live_code, parse_staff

    with session_scope() as s:
        corp = get_corp(s, world.corp_id)
        staff = parse_staff(kw.pop("staff"))
        code = create_live_code(s, client_for(s, corp), corp.id, staff=staff, actor="test", **kw)
        return code.id


def test_scan_welcome_tag_and_round_robin(driver: Any, session: Any) -> None:
    from siyu.db import session_scope
    from siyu.tags.models import CustomerTag
    from siyu.tags.service import add_group, add_tag
    from siyu.wecom.contacts.models import WecomContact
    from siyu.wecom.live_codes.models import LiveCode, WelcomeDelivery
    from siyu.wecom.live_codes.service import stats
    from siyu.wecom.live_codes.welcome import set_default

    world = driver.world
    corp_pk = _synced(world)
    with session_scope() as s:
        add_group(s, "渠道", single=False, actor="test")
        add_tag(s, "渠道/南京西路店", actor="test")
        set_default(s, corp_pk, "默认欢迎 {{ nickname }}", actor="test")
    code_id = _create(
        world,
        name="南京西路店柜台",
        channel="store",
        staff="guide001,guide002,guide003",
        tag_paths=["渠道/南京西路店"],
        welcome_text="{{ nickname }}您好，我是{{ staff }}，欢迎光临！",
    )
    code = session.get(LiveCode, code_id)
    assert (
        code.state.startswith("lc") and len(code.state) <= 30 and code.qr_png.startswith(b"\x89PNG")
    )
    way = world.contact_ways[code.config_id]
    assert way.users == ["guide001"] and way.state == code.state
    arrived = []
    for _ in range(6):
        customer, follow, resp = driver.scan(code.config_id)
        assert resp.status_code == 200
        arrived.append((customer, follow.userid))
        pump_inbox()
    # each scan went to the guide the code held at that moment: strictly in turn
    assert [u for _c, u in arrived] == ["guide001", "guide002", "guide003"] * 2
    sent = [wc.sent for wc in world.welcome_codes.values()]
    assert all(m is not None for m in sent)
    first_name = arrived[0][0].name
    assert (
        sent[0]["text"]["content"]
        == f"{first_name}您好，我是{world.staff['guide001'].name}，欢迎光临！"
    )
    session.expire_all()
    deliveries = list(session.scalars(sa.select(WelcomeDelivery)))
    assert [d.status for d in deliveries] == ["sent"] * 6
    assert all(d.customer_id and d.live_code_id == code_id for d in deliveries)
    tagged = session.scalar(sa.select(sa.func.count()).select_from(CustomerTag))
    assert tagged == 6
    numbers = stats(session, code)
    assert numbers["adds"] == 6 and numbers["net_adds"] == 6
    assert numbers["by_staff"] == {"guide001": 2, "guide002": 2, "guide003": 2}
    # one customer deletes their guide: net adds drop, the day shows the deletion
    driver.customer_deletes("guide001", arrived[0][0].external_userid)
    pump_inbox()
    session.expire_all()
    numbers = stats(session, code)
    assert numbers["net_adds"] == 5 and numbers["days"][-1]["deletions"] == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(WecomContact)) == 6
    # an add without a live code gets the default welcome
    customer, _f, _r = driver.add("guide002")
    pump_inbox()
    last = list(world.welcome_codes.values())[-1].sent
    assert last["text"]["content"] == f"默认欢迎 {customer.name}"


def test_weighted_rotation_and_daily_limit(driver: Any, session: Any) -> None:
    from siyu.wecom.live_codes.models import LiveCode

    world = driver.world
    _synced(world)
    code_id = _create(
        world, name="海报", channel="poster", staff="guide001:3,guide002:1:2", rotation="weighted"
    )
    config_id = session.get(LiveCode, code_id).config_id
    who = []
    for _ in range(14):
        _c, follow, _r = driver.scan(config_id)
        who.append(follow.userid)
        pump_inbox()
    # weight 3:1 until guide002 reaches its daily limit of 2; then guide001 takes every add
    assert (
        who == ["guide001"] * 3 + ["guide002"] + ["guide001"] * 3 + ["guide002"] + ["guide001"] * 6
    )


def test_capacity_routes_away_from_a_full_guide_and_alerts(
    driver: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import reset_settings
    from siyu.wecom.contacts.models import WecomAlert
    from siyu.wecom.live_codes.models import LiveCode

    monkeypatch.setenv("SIYU_WECOM_FRIEND_ALERT_AT", "2")
    monkeypatch.setenv("SIYU_WECOM_FRIEND_STOP_AT", "3")
    reset_settings()
    world = driver.world
    _synced(world)
    code_id = _create(world, name="直播间", channel="live", staff="guide001,guide002")
    config_id = session.get(LiveCode, code_id).config_id
    who = []
    for _ in range(8):
        _c, follow, _r = driver.scan(config_id)
        who.append(follow.userid)
        pump_inbox()
    # both guides fill to 3 friends in turn; then nobody is eligible and the code says so
    assert who[:6] == ["guide001", "guide002"] * 3
    session.expire_all()
    kinds = sorted({(a.kind, a.staff_userid) for a in session.scalars(sa.select(WecomAlert))})
    assert ("capacity", "guide001") in kinds and ("capacity", "guide002") in kinds
    assert any(k == "live_code_full" for k, _u in kinds)
    # one alert per guide, not one per add
    assert session.scalar(sa.select(sa.func.count()).where(WecomAlert.kind == "capacity")) == 2


def test_simulator_enforces_the_5000_friend_cap(wecom: dict) -> None:
    world = wecom["world"]
    world_staff = next(iter(world.staff))
    for i in range(5000):
        assert world.befriend(world_staff, world.new_customer(f"c{i}")) is not None
    assert world.befriend(world_staff, world.new_customer("one too many")) is None


def test_late_welcome_is_recorded_as_expired(driver: Any, session: Any) -> None:
    from siyu.db import session_scope
    from siyu.wecom.live_codes.models import WelcomeDelivery
    from siyu.wecom.live_codes.welcome import set_default

    world = driver.world
    corp_pk = _synced(world)
    with session_scope() as s:
        set_default(s, corp_pk, "欢迎", actor="test")
    _c, _f, _r = driver.add("guide001")
    for wc in world.welcome_codes.values():
        wc.issued -= 30  # the worker was down for half a minute
    from datetime import timedelta

    from siyu.db import new_session
    from siyu.wecom.callbacks.models import WecomCallback

    with new_session() as s:
        for row in s.scalars(sa.select(WecomCallback)):
            row.received_at -= timedelta(seconds=30)
        s.commit()
    pump_inbox()
    d = session.scalar(sa.select(WelcomeDelivery))
    assert (d.errcode, d.status) == (41051, "expired") and d.latency_ms >= 30_000
    assert d.customer_id is not None  # the customer is stored all the same


def test_bad_live_code_requests_are_refused_before_wecom_is_called(driver: Any) -> None:
    from siyu.wecom.live_codes.service import LiveCodeError, parse_staff

    world = driver.world
    _synced(world)
    calls = len(world.call_log)
    for kw, why in [
        ({"name": "x", "staff": "nobody"}, "unknown"),
        ({"name": "", "staff": "guide001"}, "name"),
        ({"name": "x", "staff": "guide001", "channel": "tv"}, "channel"),
        ({"name": "x", "staff": "guide001", "tag_paths": ["无/此标签"]}, "tag"),
        ({"name": "x", "staff": "guide001", "welcome_text": "{% if %}"}, "welcome"),
        ({"name": "x", "staff": "guide001,guide001"}, "twice"),
    ]:
        with pytest.raises(LiveCodeError, match=why):
            _create(world, **kw)
    with pytest.raises(LiveCodeError, match="weight"):
        parse_staff("guide001:0")
    world.inject("externalcontact/add_contact_way", 41044)
    with pytest.raises(LiveCodeError, match="WeCom refused"):
        _create(world, name="x", staff="guide001", welcome_text="你好")
    from siyu.db import new_session
    from siyu.wecom.live_codes.models import LiveCode, WelcomeMessage

    with new_session() as s:  # a refusal leaves nothing behind
        assert s.scalar(sa.select(sa.func.count()).select_from(LiveCode)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(WelcomeMessage)) == 0
    assert [a for a, _c in world.call_log[calls:] if "contact_way" in a] == []


def test_live_code_api_and_cli(driver: Any, client: Any, session: Any) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app
    from tests.e2e.conftest import login, make_user

    world = driver.world
    _synced(world)
    make_user("ops", "operator")
    make_user("guide", "store_guide", "s01")
    h = {"X-CSRF-Token": login(client, "ops")}
    bad = client.post(
        "/api/v1/wecom/live-codes", headers=h, json={"name": "x", "staff": [{"userid": "ghost"}]}
    )
    assert bad.status_code == 422 and "ghost" in bad.text
    bad = client.post("/api/v1/wecom/live-codes", headers=h, json={"name": "x", "staff": []})
    assert bad.status_code == 422
    made = client.post(
        "/api/v1/wecom/live-codes",
        headers=h,
        json={
            "name": "包裹卡",
            "channel": "parcel",
            "staff": [
                {"userid": "guide001", "weight": 2},
                {"userid": "guide002", "daily_limit": 50},
            ],
            "rotation": "weighted",
            "welcome": "感谢购买，{{ nickname }}",
        },
    )
    assert made.status_code == 201, made.text
    code = made.json()
    assert code["state"].startswith("lc") and code["current_staff"] == "guide001"
    png = client.get(code["qr"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    document = client.get("/api/openapi.json").json()
    answer = document["paths"]["/api/v1/wecom/live-codes/{code_id}/qr.png"]["get"]["responses"]
    assert list(answer["200"]["content"]) == [png.headers["content-type"]] == ["image/png"]
    config_id = next(iter(world.contact_ways))
    driver.scan(config_id)
    pump_inbox()
    stats = client.get(f"/api/v1/wecom/live-codes/{code['id']}/stats?days=7").json()
    assert stats["adds"] == 1 and len(stats["days"]) == 7
    listed = client.get("/api/v1/wecom/live-codes").json()
    assert listed[0]["net_adds"] == 1
    assert client.get("/api/v1/wecom/live-codes/999/stats").status_code == 404
    assert client.get("/api/v1/wecom/live-codes/999/qr.png").status_code == 404
    for path in (
        "/api/v1/wecom/live-codes/{code_id}/stats",
        "/api/v1/wecom/live-codes/{code_id}/qr.png",
    ):
        assert 404 in declared(client, "GET", path)
    r = client.put("/api/v1/wecom/welcome/default", headers=h, json={"text": "{% for %}"})
    assert r.status_code == 422
    r = client.put("/api/v1/wecom/welcome/default", headers=h, json={"text": "你好 {{ nickname }}"})
    assert r.status_code == 200
    alerts = client.get("/api/v1/wecom/alerts").json()
    assert alerts["welcome"]["by_status"] == {"sent": 1}
    # a store guide may look but not create
    client.cookies.clear()
    h2 = {"X-CSRF-Token": login(client, "guide")}
    denied = client.post(
        "/api/v1/wecom/live-codes",
        headers=h2,
        json={"name": "y", "staff": [{"userid": "guide001"}]},
    )
    assert denied.status_code == 403
    # the CLI shows the same
    runner = CliRunner()
    out = runner.invoke(app, ["wecom", "live-code", "list"])
    assert out.exit_code == 0 and "包裹卡" in out.output
    out = runner.invoke(app, ["wecom", "live-code", "create", "门店", "--staff", "guide001:0"])
    assert out.exit_code == 1 and "weight" in out.output
    out = runner.invoke(app, ["wecom", "status", "--json"])
    assert out.exit_code == 0 and '"friendships": 1' in out.output


def test_duplicates_across_the_staff_matrix(driver: Any, client: Any) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app
    from tests.e2e.conftest import login, make_user

    world = driver.world
    _synced(world)
    code_id = _create(world, name="门店码", staff="guide002")
    config_id = next(iter(world.contact_ways))
    regular, _f, _r = driver.add("guide001")  # already a friend of guide001 …
    driver.scan(config_id, regular)  # … then scans the store code: a duplicate add
    _newcomer, _f2, _r2 = driver.scan(config_id)  # a new customer: not a duplicate
    pump_inbox()
    make_user("ops", "operator")
    login(client, "ops")
    out = client.get("/api/v1/wecom/duplicates").json()
    assert out["customers"] == 2 and out["friendships"] == 3
    assert out["customers_with_several_staff"] == 1 and out["extra_friendships"] == 1
    assert out["by_live_code"] == [{"id": code_id, "name": "门店码", "duplicate_adds": 1}]
    assert out["sample"][0]["staff"] == ["guide001", "guide002"]
    text = CliRunner().invoke(app, ["wecom", "duplicates"]).output
    assert "1 customers are friends of several staff (1 extra friendships)" in text


def test_keep_first_owner_rule(driver: Any, session: Any, monkeypatch: Any) -> None:
    from siyu.config import reset_settings
    from siyu.wecom.contacts.models import WecomAlert
    from siyu.wecom.live_codes.models import LiveCode
    from siyu.wecom.live_codes.service import adds_today

    monkeypatch.setenv("SIYU_WECOM_KEEP_FIRST_OWNER", "1")
    reset_settings()
    world = driver.world
    _synced(world)
    code_id = _create(world, name="门店码", staff="guide002:1:1,guide003")
    config_id = next(iter(world.contact_ways))
    regular, _f, _r = driver.add("guide001")  # guide001's customer …
    pump_inbox()
    _c, follow, _r = driver.scan(config_id, regular)  # … scans the store code and adds guide002
    pump_inbox()
    assert follow.userid == "guide002"
    session.expire_all()
    code = session.get(LiveCode, code_id)
    assert code.current_userid == "guide002"  # no turn taken by a customer who has a guide
    alert = session.scalar(sa.select(WecomAlert).where(WecomAlert.kind == "duplicate_add"))
    assert alert.staff_userid == "guide002" and "guide001" in alert.message
    from siyu.config import get_settings

    assert adds_today(session, code, get_settings()) == {}  # nor a place in the daily limit
    _n, follow, _r = driver.scan(config_id)  # a new customer still reaches guide002
    pump_inbox()
    assert follow.userid == "guide002"
    session.expire_all()
    assert session.get(LiveCode, code_id).current_userid == "guide003"


def test_a_welcome_that_cannot_be_rendered_sends_nothing_and_is_recorded(
    driver: Any, session: Any
) -> None:
    from siyu.db import session_scope
    from siyu.wecom.contacts.models import WecomAlert
    from siyu.wecom.live_codes.models import WelcomeDelivery, WelcomeMessage
    from siyu.wecom.live_codes.welcome import WelcomeError, set_default

    world = driver.world
    corp_pk = _synced(world)
    refused = [
        ("{{ nickname.ljust(1500000000) }}", "'.ljust' cannot be used"),
        ("您好\n{{ 1 // 0 }}", "line 2: the template failed: ZeroDivisionError"),
        ("{{ nmae }}您好", "unknown variable 'nmae'"),
        ("{% for i in range(999) %}{% for j in range(999) %}{% endfor %}{% endfor %}", "ms|steps"),
        ("{% set x = 1 %}", r"\{% set %\}"),
    ]
    with session_scope() as s:
        for text, why in refused:  # checked when saved, tried with sample values
            with pytest.raises(WelcomeError, match=why):
                set_default(s, corp_pk, text, actor="test")
        # a welcome stored before welcomes were checked, which fails for every customer
        s.add(
            WelcomeMessage(corp_id=corp_pk, name="旧欢迎语", is_default=True, text="{{ 1 // 0 }}")
        )
    driver.add("guide001")
    pump_inbox()
    # one that saves (3,000 characters for the sample nickname) but not for this customer's
    with session_scope() as s:
        set_default(s, corp_pk, "{{ nickname * 1500 }}", actor="test")
    driver.add("guide002")
    pump_inbox()
    assert len(world.welcome_codes) == 2
    assert [wc.sent for wc in world.welcome_codes.values()] == [None, None]  # nothing, no source
    session.expire_all()
    deliveries = list(session.scalars(sa.select(WelcomeDelivery).order_by(WelcomeDelivery.id)))
    assert [d.status for d in deliveries] == ["render_error"] * 2
    assert all(d.customer_id for d in deliveries)  # the customers are stored all the same
    alerts = list(session.scalars(sa.select(WecomAlert)))
    assert [a.kind for a in alerts] == ["welcome_render_error"]  # one open alert, not one per add
    assert "旧欢迎语" in alerts[0].message and "ZeroDivisionError" in alerts[0].message
