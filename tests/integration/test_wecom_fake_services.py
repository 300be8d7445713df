"""The WeCom services on the database with the in-memory WeCom in place of the HTTP simulator:
the full sync, a live code, and a handover with a refusal, a full takeover and its retry, as
the end-to-end tests run them (tests/e2e/test_wecom_handover.py) but without HTTP. It holds the
fake to what the real services call and read (``calls`` for the status page included)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from siyu.wecom.fakes import FakeWecomClient


def _connected() -> tuple[FakeWecomClient, int]:
    from siyu.db import session_scope
    from siyu.wecom.connection.crypto import new_aes_key
    from siyu.wecom.connection.service import add_corp, get_corp

    wecom = FakeWecomClient("wwfakecorp")
    for userid in ("guide001", "guide002", "guide003"):
        wecom.add_staff(userid, f"导购{userid[-1]}")
    with session_scope() as s:
        add_corp(
            s,
            corp_id=wecom.corp_id,
            agent_id="1000002",
            secret="secret",
            token="token",
            aes_key_text=new_aes_key(),
            actor="test",
        )
        corp_pk = get_corp(s, wecom.corp_id).id
    return wecom, corp_pk


def _sync(wecom: FakeWecomClient) -> None:
    from siyu.db import new_session
    from siyu.wecom.connection.service import get_corp
    from siyu.wecom.contacts.sync import sync

    with new_session() as s:
        sync(s, get_corp(s, wecom.corp_id), wecom)


def test_sync_and_handover_on_the_fake(session: Any) -> None:
    from siyu.db import new_session
    from siyu.wecom.connection.models import WecomApiCall, WecomStaff
    from siyu.wecom.connection.service import get_corp
    from siyu.wecom.contacts.models import WecomContact, WecomGroupChat
    from siyu.wecom.handover.models import Handover
    from siyu.wecom.handover.service import Selection, plan, retry
    from siyu.wecom.handover.transfers import check, submit

    wecom, _corp_pk = _connected()
    customers = [wecom.add_customer(f"顾客{i}") for i in range(4)]
    for ext in customers:
        wecom.befriend("guide001", ext)
    group = wecom.add_group("guide001", "会员群")
    _sync(wecom)
    assert session.scalar(sa.select(sa.func.count()).select_from(WecomStaff)) == 3
    assert session.scalar(sa.select(sa.func.count()).select_from(WecomContact)) == 4
    with new_session() as s:
        corp = get_corp(s, wecom.corp_id)
        handover = plan(
            s,
            corp,
            kind="onjob",
            handover_userid="guide001",
            takeover_userid="guide002",
            selection=Selection(),
            actor="test",
        )
        s.commit()
        assert submit(s, wecom, handover) == {"waiting": 4, "succeeded": 1}
        assert wecom.groups[group]["owner"] == "guide002"
        wecom.refuse_transfer(customers[0])
        wecom.friend_cap = wecom.friend_count("guide002") + 2
        wecom.complete_transfers()
        assert check(s, wecom, handover) == {"refused": 1, "succeeded": 3, "limit": 1}
        assert retry(s, handover, "guide003", actor="test") == 1
        s.commit()
        assert submit(s, wecom, handover)["waiting"] == 1
        wecom.complete_transfers()
        assert check(s, wecom, handover) == {"refused": 1, "succeeded": 4}
        handover_id = handover.id
    session.expire_all()
    assert session.get(Handover, handover_id).status == "done"
    owners = dict(
        session.execute(
            sa.select(WecomContact.external_userid, WecomContact.staff_userid).where(
                WecomContact.deleted_at.is_(None)
            )
        ).all()
    )
    assert [owners[e] for e in customers] == ["guide001", "guide002", "guide002", "guide003"]
    assert session.scalar(sa.select(WecomGroupChat.owner_userid)) == "guide002"
    apis = set(session.scalars(sa.select(WecomApiCall.api)))  # the status page's record
    assert {"user/list", "externalcontact/transfer_customer", "externalcontact/get"} <= apis
    assert not wecom.calls  # record_calls took them


def test_a_live_code_on_the_fake() -> None:
    from siyu.db import session_scope
    from siyu.wecom.live_codes.service import create_live_code, parse_staff

    wecom, corp_pk = _connected()
    _sync(wecom)
    with session_scope() as s:
        code = create_live_code(
            s,
            wecom,
            corp_pk,
            name="南京西路店柜台",
            staff=parse_staff("guide001,guide002"),
            actor="test",
        )
        way = wecom.contact_ways[code.config_id]
        assert way["user"] == ["guide001"] and way["state"] == code.state
        assert code.qr_png is None  # the fake has no image to fetch
