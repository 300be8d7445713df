"""Openids come in through the event API and customer imports too, namespaced by the official
account's AppID like every identity: given with the openid, or the configured account's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import write_csv

OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"


def _identities(session: Any, kind: str = "openid") -> list[tuple[str, str, int]]:
    from siyu.customers.models import Identity

    session.expire_all()
    return [
        (i.namespace, i.value, i.customer_id)
        for i in session.scalars(sa.select(Identity).where(Identity.kind == kind))
    ]


def _event(**traits: Any) -> Any:
    from siyu.events.schemas import EventIn

    return EventIn.model_validate(
        {"type": "identify", "messageId": f"m-{abs(hash(str(traits)))}", "traits": traits}
    )


def _ingest(engine: Any, settings: Any, *events: Any) -> Any:
    from siyu.events.service import ingest

    with engine.begin() as conn:
        return ingest(conn, list(events), source="t", secret=settings.secret_key_bytes())


def test_event_openid_takes_the_appid_given_or_the_configured_one(
    engine: Any, session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import get_settings, reset_settings
    from siyu.events.service import EventRejected

    with pytest.raises(EventRejected, match="no official account AppID"):
        _ingest(engine, get_settings(), _event(openid=OPENID))
    stored = _ingest(
        engine,
        get_settings(),
        _event(openid=OPENID, openid_appid="wx1234567890abcdef", phone="13812340001"),
    )
    monkeypatch.setenv("SIYU_OA_APPID", "wxfedcba0987654321")
    reset_settings()
    again = _ingest(engine, get_settings(), _event(openid=OPENID))
    # the same openid under two accounts is two identities (and here two people)
    assert sorted(_identities(session)) == sorted(
        [
            ("wx1234567890abcdef", OPENID, stored[0].customer_id),
            ("wxfedcba0987654321", OPENID, again[0].customer_id),
        ]
    )
    assert stored[0].customer_id != again[0].customer_id
    with pytest.raises(EventRejected, match="not an official account AppID"):
        _ingest(engine, get_settings(), _event(openid=OPENID, openid_appid="wx'; drop"))
    # identify keeps no identity among its properties
    from siyu.events.models import Event

    props = session.scalars(sa.select(Event.properties)).all()
    assert all("openid" not in p and "openid_appid" not in p for p in props)


def test_import_openid_column_with_appid_column_flag_or_setting(
    engine: Any, settings: Any, session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import get_settings, reset_settings
    from siyu.ingest.customers import import_customers
    from siyu.ingest.reader import ImportFileError

    rows = [
        ["M1", "13812340011", "o_openid_with_column_appid_1", "wxaaaaaaaaaaaaaaaa"],
        ["M2", "13812340012", "o_openid_with_flag_appid_002", ""],
        ["", "", "o_openid_only_00000000000003", ""],
        ["M4", "", "null", ""],
    ]
    f = write_csv(tmp_path / "m.csv", ["customer_id", "phone", "openid", "oa_appid"], rows)
    s = import_customers(engine, settings, f, "csv", actor="t")
    # no flag, no setting: openids without an AppID are not identities; rows keep the others
    assert s.customers_created == 3 and s.rejected_total == 1  # the row with only an openid
    assert any("openid ignored" in w for w in s.warnings)
    assert [(ns, v) for ns, v, _c in _identities(session)] == [
        ("wxaaaaaaaaaaaaaaaa", "o_openid_with_column_appid_1")
    ]
    with pytest.raises(ImportFileError, match="--oa-appid"):
        import_customers(engine, settings, f, "csv", actor="t", oa_appid="not an appid!")
    s = import_customers(engine, settings, f, "csv", actor="t", oa_appid="wxbbbbbbbbbbbbbbbb")
    assert s.rejected_total == 0 and s.customers_created == 1  # the openid-only row now
    assert sorted((ns, v) for ns, v, _c in _identities(session)) == [
        ("wxaaaaaaaaaaaaaaaa", "o_openid_with_column_appid_1"),
        ("wxbbbbbbbbbbbbbbbb", "o_openid_only_00000000000003"),
        ("wxbbbbbbbbbbbbbbbb", "o_openid_with_flag_appid_002"),
    ]
    monkeypatch.setenv("SIYU_OA_APPID", "wxcccccccccccccccc")
    reset_settings()
    g = write_csv(
        tmp_path / "n.csv", ["phone", "openid"], [["13812340015", "o_openid_by_setting_0000005"]]
    )
    import_customers(engine, get_settings(), g, "csv", actor="t")
    assert ("wxcccccccccccccccc", "o_openid_by_setting_0000005") in {
        (ns, v) for ns, v, _c in _identities(session)
    }
