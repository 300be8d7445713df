"""Staff handover end to end against the simulated WeCom: on-job transfer of a guide's customers
and groups, a customer who refuses (transfer_fail callback), a takeover member who is full and
the retry to someone else, WeCom's two-in-90-days rule, and resigned inheritance."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.conftest import declared
from tests.wecom_sim import pump_inbox


def _sync(world: Any) -> None:
    from siyu.db import new_session
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.contacts.sync import sync

    with new_session() as s:
        corp = get_corp(s, world.corp_id)
        sync(s, corp, client_for(s, corp))


def _hand_over(world: Any, **kw: Any) -> tuple[int, dict[str, int]]:
    from siyu.db import new_session
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.handover.service import Selection, plan
    from siyu.wecom.handover.transfers import submit

    with new_session() as s:
        corp = get_corp(s, world.corp_id)
        selection = Selection(**kw.pop("selection", {}))
        handover = plan(s, corp, selection=selection, actor="test", **kw)
        s.commit()
        return handover.id, submit(s, client_for(s, corp), handover)


def _check(world: Any, handover_id: int) -> dict[str, int]:
    from siyu.db import new_session
    from siyu.wecom.connection.service import client_for, get_corp
    from siyu.wecom.handover.models import Handover
    from siyu.wecom.handover.transfers import check

    with new_session() as s:
        corp = get_corp(s, world.corp_id)
        return check(s, client_for(s, corp), s.get(Handover, handover_id))


def _owner_of(session: Any, external: str) -> set[str]:
    from siyu.wecom.contacts.models import WecomContact

    session.expire_all()
    return set(
        session.scalars(
            sa.select(WecomContact.staff_userid).where(
                WecomContact.external_userid == external, WecomContact.deleted_at.is_(None)
            )
        )
    )


def test_onjob_handover_with_refusal_full_takeover_and_retry(
    driver: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.db import new_session
    from siyu.simulators.wecom import world as world_module
    from siyu.wecom.contacts.models import WecomAlert, WecomGroupChat
    from siyu.wecom.handover.models import Handover, HandoverItem
    from siyu.wecom.handover.service import retry
    from siyu.wecom.handover.transfers import submit

    world = driver.world
    customers = [driver.add("guide001", welcome=False)[0] for _ in range(4)]
    driver.create_group("guide001", "南京西路店会员群", customers[:2])
    _sync(world)
    pump_inbox()
    handover_id, counts = _hand_over(
        world,
        kind="onjob",
        handover_userid="guide001",
        takeover_userid="guide002",
        message="您好，之后由同事为您服务",
    )
    assert counts == {"waiting": 4, "succeeded": 1}  # groups move at once
    assert next(iter(world.groups.values())).owner == "guide002"
    assert session.scalar(sa.select(WecomGroupChat.owner_userid)) == "guide002"
    # the first customer refuses: WeCom says so at once with a transfer_fail callback
    driver.customer_refuses_transfer(customers[0].external_userid)
    pump_inbox()
    # 24 hours pass; the takeover member has room for two more customers only
    world.transfer_delay = 0
    monkeypatch.setattr(world_module, "FRIEND_CAP", world.friend_count("guide002") + 2)
    assert _check(world, handover_id) == {"refused": 1, "succeeded": 3, "limit": 1}
    full = session.scalar(sa.select(HandoverItem.target_id).where(HandoverItem.status == "limit"))
    moved = set(
        session.scalars(
            sa.select(HandoverItem.target_id).where(
                HandoverItem.status == "succeeded", HandoverItem.target_type == "customer"
            )
        )
    )
    assert len(moved) == 2
    assert all(_owner_of(session, ext) == {"guide002"} for ext in moved)
    assert _owner_of(session, full) == {"guide001"}
    kinds = [a.message for a in session.scalars(sa.select(WecomAlert).order_by(WecomAlert.id))]
    assert len(kinds) == 2 and "拒绝" in kinds[0] and "已满" in kinds[1]
    # the full one goes to guide003 instead; the refusal is the customer's choice and stays
    with new_session() as s:
        handover = s.get(Handover, handover_id)
        assert retry(s, handover, "guide003", actor="test") == 1
        s.commit()
        from siyu.wecom.connection.service import client_for, get_corp

        corp = get_corp(s, world.corp_id)
        assert submit(s, client_for(s, corp), handover)["waiting"] == 1
    assert _check(world, handover_id) == {"refused": 1, "succeeded": 4}
    assert _owner_of(session, full) == {"guide003"}
    session.expire_all()
    assert session.get(Handover, handover_id).status == "done"
    tried = session.scalar(sa.select(HandoverItem.attempts).where(HandoverItem.target_id == full))
    assert tried == 2


def test_wecom_rules_checked_before_asking(driver: Any, session: Any) -> None:
    from siyu.wecom.handover.models import HandoverItem
    from siyu.wecom.handover.service import HandoverError

    world = driver.world
    customer = driver.add("guide001", welcome=False)[0]
    _sync(world)
    world.transfer_delay = 0
    only = {"external_userids": (customer.external_userid,)}
    moves = [("guide001", "guide002"), ("guide002", "guide003")]
    for giver, taker in moves:  # two on-job transfers in 90 days are allowed
        hid, counts = _hand_over(
            world, kind="onjob", handover_userid=giver, takeover_userid=taker, selection=only
        )
        assert counts == {"waiting": 1}
        assert _check(world, hid) == {"succeeded": 1}
    calls = len(world.call_log)
    hid, counts = _hand_over(
        world, kind="onjob", handover_userid="guide003", takeover_userid="guide001", selection=only
    )
    assert counts == {"failed": 1}
    assert not any(c[0].endswith("transfer_customer") for c in world.call_log[calls:])
    error = session.scalar(sa.select(HandoverItem.error).where(HandoverItem.handover_id == hid))
    assert "2 on-job transfers" in error
    bad = [
        ({"kind": "onjob", "handover_userid": "guide003", "takeover_userid": "guide003"}, "same"),
        ({"kind": "onjob", "handover_userid": "ghost", "takeover_userid": "guide001"}, "ghost"),
        (
            {"kind": "resigned", "handover_userid": "guide003", "takeover_userid": "guide001"},
            "not left",
        ),
        (
            {"kind": "onjob", "handover_userid": "guide001", "takeover_userid": "guide002"},
            "no customers",
        ),
    ]
    for kw, why in bad:
        with pytest.raises(HandoverError, match=why):
            _hand_over(world, **kw)


def test_resigned_inheritance(driver: Any, session: Any) -> None:
    from siyu.db import session_scope
    from siyu.wecom.connection.models import WecomStaff

    world = driver.world
    customers = [driver.add("guide003", welcome=False)[0] for _ in range(3)]
    world.staff["guide003"].status = 5  # the guide left the company
    _sync(world)
    with session_scope() as s:
        assert s.scalar(sa.select(WecomStaff.status).where(WecomStaff.userid == "guide003")) == 5
    hid, counts = _hand_over(
        world, kind="resigned", handover_userid="guide003", takeover_userid="guide001"
    )
    assert counts == {"waiting": 3}
    world.transfer_delay = 0
    assert _check(world, hid) == {"succeeded": 3}
    assert all(_owner_of(session, c.external_userid) == {"guide001"} for c in customers)


def test_handover_api_and_cli(driver: Any, client: Any) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app
    from tests.e2e.conftest import login, make_user

    world = driver.world
    customers = [driver.add("guide001", welcome=False)[0] for _ in range(3)]
    _sync(world)
    make_user("ops", "operator")
    h = {"X-CSRF-Token": login(client, "ops")}
    bad = client.post(
        "/api/v1/wecom/handovers", headers=h, json={"from": "guide001", "to": "guide001"}
    )
    assert bad.status_code == 422 and "same member" in bad.text
    dry = client.post(
        "/api/v1/wecom/handovers",
        headers=h,
        json={"from": "guide001", "to": "guide002", "dry_run": True},
    )
    assert dry.status_code == 201 and dry.json()["counts"] == {"queued": 3}
    assert client.get("/api/v1/wecom/handovers").json() == []  # a dry run keeps nothing
    assert world.transfers == []
    one = customers[0].external_userid
    made = client.post(
        "/api/v1/wecom/handovers",
        headers=h,
        json={"from": "guide001", "to": "guide002", "customers": [one], "message": "同事接替"},
    )
    assert made.status_code == 201 and made.json()["counts"] == {"waiting": 1}
    assert (
        client.get(f"/api/v1/wecom/handovers/{made.json()['id']}").json()["items"][0]["id"] == one
    )
    assert client.get("/api/v1/wecom/handovers/999").status_code == 404
    assert client.post("/api/v1/wecom/handovers/999/retry", headers=h, json={}).status_code == 404
    assert 404 in declared(client, "GET", "/api/v1/wecom/handovers/{handover_id}")
    assert 404 in declared(client, "POST", "/api/v1/wecom/handovers/{handover_id}/retry")
    again = client.post(f"/api/v1/wecom/handovers/{made.json()['id']}/retry", headers=h, json={})
    assert again.json()["retried"] == 0
    runner = CliRunner()
    out = runner.invoke(
        app, ["wecom", "handover", "create", "--from", "guide001", "--to", "guide003", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert '"waiting": 2' in out.output  # the first customer is already being transferred
    world.transfer_delay = 0
    out = runner.invoke(app, ["wecom", "handover", "check", str(made.json()["id"])])
    assert out.exit_code == 0 and "succeeded 1" in out.output, out.output
    out = runner.invoke(app, ["wecom", "handover", "create", "--from", "ghost", "--to", "guide003"])
    assert out.exit_code == 1 and "ghost" in out.output
    out = runner.invoke(app, ["wecom", "handover", "list"])
    assert out.output.count("handover ") == 2
