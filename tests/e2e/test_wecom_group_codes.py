"""Group live codes against the simulated WeCom: customers join by one QR code, the groups fill
in order, Siyu moves full groups out of the join way and the next ones in, and says when every
group is full."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import declared
from tests.wecom_sim import pump_inbox


def _setup(driver: Any, groups: int) -> list[str]:
    from siyu.db import new_session
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.contacts.sync import sync

    world = driver.world
    for i in range(groups):
        driver.create_group("guide001", f"福利群{i + 1}", [])
    with new_session() as s:
        corp = get_corp(s, world.corp_id)
        sync(s, corp, client_for(s, corp))
    return sorted(world.groups, key=lambda c: world.groups[c].name)


def test_groups_rotate_as_they_fill(
    driver: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.db import session_scope
    from siyu.simulators.wecom import joinways
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.contacts.models import WecomAlert
    from siyu.wecom.live_codes import group_codes
    from siyu.wecom.live_codes.models import GroupLiveCode

    # a group admits 3 members by QR code here (200 at WeCom), a join way holds 2 (5)
    for module in (joinways, group_codes):
        monkeypatch.setattr(module, "QR_JOIN_LIMIT", 3)
    monkeypatch.setattr(group_codes, "JOIN_WAY_GROUPS", 2)
    world = driver.world
    chats = _setup(driver, 3)  # each has its owner as a member already
    with session_scope() as s:
        corp = get_corp(s, world.corp_id)
        code = group_codes.create_group_code(
            s, client_for(s, corp), corp.id, name="新客福利群", chat_ids=chats, actor="test"
        )
        config_id, code_id = code.config_id, code.id
    way = world.extras["join_ways"][config_id]
    assert way.chat_id_list == chats[:2]
    joined = []
    for _ in range(6):  # two fill group 1, two fill group 2, two go to group 3
        joined.append(driver.join_by_code(config_id, world.new_customer("群友")))
        pump_inbox()
    assert joined == [chats[0]] * 2 + [chats[1]] * 2 + [chats[2]] * 2
    assert way.chat_id_list == [chats[2]]
    session.expire_all()
    assert session.get(GroupLiveCode, code_id).active_chat_ids == [chats[2]]
    assert driver.join_by_code(config_id, world.new_customer("群友")) is None  # all full
    pump_inbox()
    session.expire_all()
    assert session.get(GroupLiveCode, code_id).full
    assert session.scalar(sa.select(WecomAlert.kind)) == "group_code_full"


def test_group_code_api_and_cli(driver: Any, client: Any) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app
    from tests.e2e.conftest import login, make_user

    chats = _setup(driver, 2)
    make_user("ops", "operator")
    h = {"X-CSRF-Token": login(client, "ops")}
    bad = client.post(
        "/api/v1/wecom/group-codes", headers=h, json={"name": "x", "chat_ids": ["nope"]}
    )
    assert bad.status_code == 422 and "nope" in bad.text
    made = client.post(
        "/api/v1/wecom/group-codes", headers=h, json={"name": "会员群", "chat_ids": chats[:1]}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert [g["in_join_way"] for g in body["groups"]] == [True]
    assert client.get(body["qr"]).content[:4] == b"\x89PNG"
    more = client.post(
        f"/api/v1/wecom/group-codes/{body['id']}/groups", headers=h, json={"chat_ids": chats[1:]}
    )
    assert [g["in_join_way"] for g in more.json()["groups"]] == [True, True]
    assert client.get("/api/v1/wecom/group-codes/999").status_code == 404
    assert client.get("/api/v1/wecom/group-codes/999/qr.png").status_code == 404
    more = client.post("/api/v1/wecom/group-codes/999/groups", headers=h, json={"chat_ids": ["x"]})
    assert more.status_code == 404
    assert 404 in declared(client, "GET", "/api/v1/wecom/group-codes/{code_id}")
    assert 404 in declared(client, "GET", "/api/v1/wecom/group-codes/{code_id}/qr.png")
    assert 404 in declared(client, "POST", "/api/v1/wecom/group-codes/{code_id}/groups")
    runner = CliRunner()
    out = runner.invoke(app, ["wecom", "group-code", "create", "门店群", "--chat", chats[0]])
    assert out.exit_code == 0, out.output
    out = runner.invoke(app, ["wecom", "group-code", "list"])
    assert "会员群" in out.output and "门店群" in out.output
    out = runner.invoke(app, ["wecom", "group-code", "create", "坏", "--chat", "nope"])
    assert out.exit_code == 1 and "nope" in out.output


def test_group_code_console(driver: Any, client: Any) -> None:
    from tests.e2e.conftest import login, make_user

    chats = _setup(driver, 2)
    make_user("ops", "operator")
    csrf = login(client, "ops")
    page = client.get("/wecom/live-codes")
    assert 'data-testid="group-code-form"' in page.text and "福利群1" in page.text
    none = client.post("/wecom/group-codes", data={"csrf": csrf, "name": "空"})
    assert 'data-testid="form-error"' in none.text
    made = client.post(
        "/wecom/group-codes",
        data={"csrf": csrf, "name": "新客福利群", "chat": chats},
        follow_redirects=False,
    )
    assert made.status_code == 303
    page = client.get("/wecom/live-codes")
    assert "新客福利群" in page.text and page.text.count(") ●") == 2
