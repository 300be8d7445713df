"""The demo's official account: members who bound WeChat follow it and are linked to their
customer profiles through the unionid the mini program reported; a restart rebuilds the same
followers from what Siyu stored."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa


def _start(monkeypatch: pytest.MonkeyPatch) -> Any:
    from siyu.config import reset_settings
    from siyu.demo.reach import start

    for name in ("APPID", "SECRET", "API_BASE", "TOKEN", "AES_KEY"):
        monkeypatch.setenv(f"SIYU_OA_{name}", "")  # start() fills them; the test puts them back
    monkeypatch.setenv("SIYU_SMS_ACCESS_KEY_ID", "configured")  # only the account is started
    monkeypatch.setenv("SIYU_SMTP_HOST", "configured")
    reset_settings()
    return start()


def test_demo_followers_are_members_and_survive_a_restart(
    session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import get_settings
    from siyu.customers.models import Customer, Identity
    from siyu.demo.oa import STRANGERS_FOLLOWING
    from siyu.oa.service import forget_clients, run_sync

    members = []
    for n in range(3):
        c = Customer(name=f"会员{n}", status="active", source="pos")
        session.add(c)
        session.flush()
        session.add(
            Identity(
                customer_id=c.id,
                kind="phone",
                namespace="",
                value=f"+86139000000{n:02d}",
                source="t",
            )
        )
        members.append(c.id)
    session.commit()
    first = _start(monkeypatch)
    try:
        sim = first.oa.app.state.sim
        assert first.oa_followers == 3 + STRANGERS_FOLLOWING
        settings = get_settings()
        assert settings.oa_token == sim.server_token and settings.oa_aes_key == sim.aes_key
        run = run_sync(session, settings)
        assert run.counts["listed"] == 3 + STRANGERS_FOLLOWING
        linked = session.scalars(
            sa.select(Identity.customer_id).where(
                Identity.kind == "openid", Identity.customer_id.in_(members)
            )
        ).all()
        assert sorted(linked) == members  # each member's openid on their own profile
        openids = set(sim.followers)
    finally:
        first.oa.stop()
        forget_clients()
    again = _start(monkeypatch)
    try:
        assert set(again.oa.app.state.sim.followers) == openids
    finally:
        again.oa.stop()
        forget_clients()
