"""The demo's simulated WeCom: seeded and connected on the first `siyu run`, and rebuilt from
Siyu's records on the next, so a restart goes on where it stopped."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa


def test_demo_corp_is_seeded_then_rebuilt_from_siyu(monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu.db import session_scope
    from siyu.demo.wecom import DEMO_CORP_NAME, FIRST_CUSTOMERS, start, world_from_siyu
    from siyu.wecom.connection.models import WecomCorp
    from siyu.wecom.contacts.models import WecomContact
    from siyu.wecom.live_codes.models import LiveCode
    from siyu.wecom.replies.models import BenefitCode, KeywordRule

    monkeypatch.setenv("SIYU_WECOM_API_BASE", "http://127.0.0.1:9")  # start() repoints it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    world = start("http://127.0.0.1:9", port, every_seconds=3600)
    import threading

    assert "wecom-guides" in {t.name for t in threading.enumerate()}  # they confirm mass sends
    with session_scope() as session:
        corp = session.scalar(sa.select(WecomCorp).where(WecomCorp.name == DEMO_CORP_NAME))
        assert corp is not None
        friends = session.scalar(sa.select(sa.func.count()).select_from(WecomContact))
        assert friends == len(world.follows) and 0 < friends <= FIRST_CUSTOMERS
        assert session.scalar(sa.select(sa.func.count()).select_from(LiveCode)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(KeywordRule)) == 2
        assert session.scalar(sa.select(sa.func.count()).select_from(BenefitCode)) == 300
        again = world_from_siyu(session, corp)
    assert (again.secret, again.token, again.aes_key) == (
        world.secret,
        world.token,
        world.aes_key,
    )
    assert set(again.staff) == set(world.staff)
    assert set(again.follows) == set(world.follows)
    assert {k: f.tag_ids for k, f in again.follows.items()} == {
        k: f.tag_ids for k, f in world.follows.items()
    }
    assert set(again.contact_ways) == set(world.contact_ways)
    assert {t["id"] for g in again.tag_groups.values() for t in g["tag"]} == {
        t["id"] for g in world.tag_groups.values() for t in g["tag"]
    }
