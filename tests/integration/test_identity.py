"""Identity resolution rules (DESIGN §4), one test per rule."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from siyu.customers.models import Consent, Customer, Identity, IdentityConflict, MergeLog
from siyu.customers.service import CustomerError, merge, unmerge
from siyu.ingest.customers import import_customers
from siyu.ingest.orders import import_orders
from siyu.orders.models import Order
from tests import platform_files as pf
from tests.conftest import write_csv

CSV = pf.CSV_HEADER


def orders_csv(path: Path, rows: list[list[object]]) -> Path:
    return write_csv(path, CSV, rows)


def row(
    order_id: str, member: str = "", phone: str = "", email: str = "", amount: str = "10"
) -> list[object]:
    return [
        order_id,
        member,
        phone,
        email,
        "",
        "2026-03-01 10:00:00",
        amount,
        "completed",
        "",
        "",
        "",
        1,
        "",
    ]


def imp(engine, settings, path: Path):  # type: ignore[no-untyped-def]
    return import_orders(engine, settings, path, "csv", actor="test")


def customer_of(engine, order_id: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.scalar(sa.select(Order.customer_id).where(Order.platform_order_id == order_id))


def active_count(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.scalar(
            sa.select(sa.func.count()).select_from(Customer).where(Customer.status == "active")
        )


def test_strong_ids_match_deterministically(engine, settings, tmp_path: Path) -> None:
    imp(
        engine,
        settings,
        orders_csv(
            tmp_path / "a.csv",
            [row("1", phone="13812345678"), row("2", member="M1", phone="+86 138 1234 5678")],
        ),
    )
    assert customer_of(engine, "1") == customer_of(engine, "2")
    assert active_count(engine) == 1


def test_junk_values_never_match(engine, settings, tmp_path: Path) -> None:
    rows = [
        row(str(i), member=m, phone="138****0000")
        for i, m in enumerate(["null", "0", "-1", "anonymous"])
    ]
    rows += [
        row("10", member="A1", phone="13800138000"),
        row("11", member="A2", phone="13800138000"),
    ]
    s = imp(engine, settings, orders_csv(tmp_path / "j.csv", rows))
    assert s.rejected_total == 4  # nothing usable in them
    assert customer_of(engine, "10") != customer_of(engine, "11")  # the test number links nobody


def test_two_profiles_with_different_phones_are_never_auto_merged(
    engine, settings, tmp_path: Path
) -> None:
    imp(
        engine,
        settings,
        orders_csv(
            tmp_path / "a.csv",
            [
                row("1", member="M1", phone="13811110001"),
                row("2", member="M2", phone="13811110002"),
            ],
        ),
    )
    # a record linking member M1 to phone 2: M1's profile already has a different phone, so no merge
    s = imp(
        engine,
        settings,
        orders_csv(tmp_path / "b.csv", [row("3", member="M1", phone="13811110002")]),
    )
    assert s.merges == 0 and s.conflicts == 1
    assert active_count(engine) == 2
    assert customer_of(engine, "3") == customer_of(engine, "1")  # member id outranks phone
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(IdentityConflict)) == 1


def test_safe_auto_merge_is_logged_and_reversible(
    engine, settings, session, tmp_path: Path
) -> None:
    imp(
        engine,
        settings,
        orders_csv(tmp_path / "a.csv", [row("1", member="M1"), row("2", phone="13811110003")]),
    )
    a, b = customer_of(engine, "1"), customer_of(engine, "2")
    assert a != b
    s = imp(
        engine,
        settings,
        orders_csv(tmp_path / "b.csv", [row("3", member="M1", phone="13811110003")]),
    )
    assert s.merges == 1
    assert {customer_of(engine, o) for o in "123"} == {min(a, b)}
    log = session.scalar(sa.select(MergeLog))
    assert log is not None and log.loser_id == max(a, b)
    # after the merge, an order arrives through the loser's phone
    imp(engine, settings, orders_csv(tmp_path / "c.csv", [row("4", phone="13811110003")]))
    unmerge(session, log.id, "test")
    session.commit()
    assert customer_of(engine, "1") == a
    assert customer_of(engine, "2") == b
    assert customer_of(engine, "4") == b  # follows the identity that brought it
    assert active_count(engine) == 2
    with pytest.raises(CustomerError, match="already undone"):
        unmerge(session, log.id, "test")


def test_manual_merge_moves_consent_unchanged(engine, settings, session, tmp_path: Path) -> None:
    members = write_csv(
        tmp_path / "m.csv",
        ["customer_id", "email", "phone", "sms_consent", "consent_evidence", "consent_at"],
        [
            ["M7", "", "13811110007", "是", "门店纸质授权书 #7", "2026-01-02 10:00:00"],
            ["", "m8@qq.com", "", "", "", ""],
        ],
    )
    s = import_customers(engine, settings, members, "csv", actor="test")
    assert s.consents == 1
    a = session.scalar(sa.select(Identity.customer_id).where(Identity.value == "m8@qq.com"))
    b = session.scalar(sa.select(Identity.customer_id).where(Identity.value == "M7"))
    before = session.execute(sa.select(Consent.__table__)).one()._asdict()
    merge_id = merge(session, a, b, "test")
    session.commit()
    after = session.execute(sa.select(Consent.__table__)).one()._asdict()
    assert {**after, "customer_id": before["customer_id"]} == before
    assert after["customer_id"] == a
    unmerge(session, merge_id, "test")
    session.commit()
    assert session.execute(sa.select(Consent.__table__)).one()._asdict() == before


def test_manual_merge_refuses_conflicting_strong_ids_unless_forced(
    engine, settings, session, tmp_path: Path
) -> None:
    imp(
        engine,
        settings,
        orders_csv(
            tmp_path / "a.csv", [row("1", phone="13811110011"), row("2", phone="13811110012")]
        ),
    )
    a, b = customer_of(engine, "1"), customer_of(engine, "2")
    with pytest.raises(CustomerError, match="different phone"):
        merge(session, a, b, "test")
    merge(session, a, b, "test", force=True)
    session.commit()
    assert customer_of(engine, "2") == a


def test_consent_needs_evidence_and_withdrawal_wins(
    engine, settings, session, tmp_path: Path
) -> None:
    header = ["customer_id", "phone", "sms_consent", "consent_evidence", "consent_at"]
    s = import_customers(
        engine,
        settings,
        write_csv(tmp_path / "a.csv", header, [["M1", "13811110021", "是", "", ""]]),
        "csv",
        actor="t",
    )
    assert s.consents == 0 and sum(s.warnings.values()) == 1
    import_customers(
        engine,
        settings,
        write_csv(
            tmp_path / "b.csv", header, [["M1", "13811110021", "否", "", "2026-05-01 10:00:00"]]
        ),
        "csv",
        actor="t",
    )
    # an older grant arriving later does not override the withdrawal
    import_customers(
        engine,
        settings,
        write_csv(
            tmp_path / "c.csv",
            header,
            [["M1", "13811110021", "是", "表单#9", "2026-04-01 10:00:00"]],
        ),
        "csv",
        actor="t",
    )
    assert session.scalar(sa.select(Consent.status)) == "withdrawn"


def test_platform_buyers_are_not_marketable_by_default(
    engine, settings, session, tmp_path: Path
) -> None:
    imp(
        engine,
        settings,
        orders_csv(tmp_path / "a.csv", [row("1", phone="13811110031", email="a@qq.com")]),
    )
    assert session.scalar(sa.select(sa.func.count()).select_from(Consent)) == 0
