"""The analytical copy: full and incremental refresh, merges followed, erasure honoured."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import sqlalchemy as sa

from siyu.analytics.service import copy_status, erase_customers, refresh_copy
from siyu.customers.service import merge, unmerge
from siyu.db import utcnow
from siyu.orders.models import Order
from siyu.privacy.service import erase_person
from siyu.traits.models import CustomerTrait
from siyu.traits.service import recompute
from tests import shop

DAY = date(2026, 5, 1)


def copied(settings, sql: str) -> list[tuple]:  # type: ignore[no-untyped-def]
    with duckdb.connect(str(settings.resolved_analytics_path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_status_before_the_first_refresh_is_empty(settings):
    assert copy_status(settings) == []


def test_full_then_incremental_refresh(settings, session, monkeypatch):
    b = shop.brand(session, "b1")
    c = shop.customer(session, city="杭州")
    first = shop.order(session, b, c, DAY, 100)
    session.commit()
    report = refresh_copy(settings)
    assert report.rows["order"] == 1 and report.rows["order_line"] == 1
    assert copied(settings, "SELECT city FROM customer") == [("杭州",)]
    status = {t.table: t for t in copy_status(settings)}
    assert status["order"].rows == 1 and status["order"].watermark is not None

    monkeypatch.setattr(settings, "analytics_overlap_seconds", 0)
    # nothing changed: an incremental refresh re-reads at most the rows at the watermark itself
    # (inclusive, so rows committed later with the same time are not missed)
    assert refresh_copy(settings).read["order"] <= 1
    # a changed order is replaced, lines included; a new order is added
    o = session.get(Order, first)
    assert o is not None
    o.status, o.updated_at = "refunded", utcnow()
    second = shop.order(session, b, c, DAY + timedelta(days=1), 70)
    session.commit()
    again = refresh_copy(settings)
    assert again.read["order"] == 2
    assert copied(settings, 'SELECT id, status FROM "order" ORDER BY id') == [
        (first, "refunded"),
        (second, "completed"),
    ]
    assert copied(settings, "SELECT order_id FROM order_line ORDER BY order_id") == [
        (first,),
        (second,),
    ]
    # running it twice changes nothing (idempotent)
    refresh_copy(settings)
    assert copied(settings, 'SELECT count(*) FROM "order"') == [(2,)]


def test_merge_and_unmerge_move_orders_in_the_copy(settings, session, monkeypatch):
    monkeypatch.setattr(settings, "analytics_overlap_seconds", 0)
    b = shop.brand(session, "b1")
    winner, loser = shop.customer(session), shop.customer(session)
    ident = shop.phone(session, loser, "+8613800000001")
    oid = shop.order(session, b, loser, DAY, 100)
    session.get(Order, oid).identity_id = ident  # type: ignore[union-attr]
    session.commit()
    refresh_copy(settings)
    merge_id = merge(session, winner, loser, actor="test")
    session.commit()
    refresh_copy(settings)
    assert copied(settings, 'SELECT customer_id FROM "order"') == [(winner,)]
    assert copied(settings, f"SELECT status FROM customer WHERE id = {loser}") == [("merged",)]
    unmerge(session, merge_id, actor="test")
    session.commit()
    refresh_copy(settings)
    assert copied(settings, 'SELECT customer_id FROM "order"') == [(loser,)]


def test_erasure_removes_the_person_from_the_copy_and_traits(engine, settings, session):
    b = shop.brand(session, "b1")
    keep, gone = shop.customer(session), shop.customer(session)
    shop.phone(session, gone, "+8613957124680")
    shop.order(session, b, keep, DAY, 100)
    shop.order(session, b, gone, DAY, 300)
    session.commit()
    recompute(engine, settings, reference_date=DAY)
    erase_person(session, settings, "13957124680", actor="test")
    session.commit()
    assert copied(settings, 'SELECT customer_id FROM "order"') == [(keep,)]
    assert copied(settings, "SELECT id FROM customer") == [(keep,)]
    assert copied(settings, "SELECT count(*) FROM order_line") == [(1,)]
    left = session.scalars(sa.select(CustomerTrait.customer_id)).all()
    assert set(left) == {keep}
    assert erase_customers(settings, []) == 0


def _tables(path) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    from siyu.analytics.tables import copied_tables

    with duckdb.connect(str(path), read_only=True) as conn:
        return {
            t.name: sorted(conn.execute(f'SELECT * FROM "{t.name}"').fetchall(), key=repr)
            for t in copied_tables()
        }


def test_incremental_refresh_matches_a_full_copy_after_every_kind_of_change(
    engine, settings, session, tmp_path, monkeypatch
):
    """Identities, consents and tags have no change time of their own: whoever changes them
    marks the customer changed. After each step, the incrementally refreshed copy must equal a
    copy built from scratch."""
    from siyu.customers.changes import touch_customers
    from siyu.events.schemas import EventIn
    from siyu.events.service import ingest
    from siyu.ingest.customers import _record_consent
    from siyu.tags.service import (
        add_group,
        add_rule,
        add_tag,
        apply_rules,
        assign,
        delete_rule,
        unassign,
    )

    monkeypatch.setattr(settings, "analytics_overlap_seconds", 0)
    fresh = settings.model_copy(update={"analytics_path": tmp_path / "fresh.duckdb"})
    b = shop.brand(session, "b1")
    a, c = shop.customer(session), shop.customer(session, city="杭州")
    shop.phone(session, a, "+8613800000011")
    shop.order(session, b, a, DAY, 100, category="彩妆")
    add_group(session, "兴趣", single=False, actor="t")
    tag = add_tag(session, "兴趣/彩妆", actor="t")
    session.commit()
    refresh_copy(settings)

    bystander = shop.customer(session, city="北京")
    session.commit()

    def same() -> None:
        refresh_copy(settings)
        refresh_copy(fresh, full=True)
        assert _tables(settings.resolved_analytics_path) == _tables(fresh.resolved_analytics_path)
        # move the watermark past everyone above, so the next step is seen only if marked
        with engine.begin() as conn:
            touch_customers(conn, [bystander])
        refresh_copy(settings)

    secret = settings.secret_key_bytes()
    with engine.begin() as conn:  # an event brings a new identity to an existing customer
        ingest(
            conn,
            [
                EventIn.model_validate(
                    {
                        "type": "track",
                        "messageId": "m1",
                        "event": "page_view",
                        "properties": {"page": "/sale"},
                        "traits": {"phone": "13800000011", "email": "lina@163.com"},
                    }
                )
            ],
            source="test",
            secret=secret,
        )
    same()
    with engine.begin() as conn:
        _record_consent(conn, c, b, "sms", "+8613900000022", True, "pos", "form 1", utcnow())
    same()
    assign(session, tag, [c], actor="t")
    session.commit()
    same()
    unassign(session, tag, [c], actor="t")
    session.commit()
    same()
    rule = add_rule(session, tag, {"kind": "city_in", "cities": ["杭州"]}, actor="t")
    session.commit()
    apply_rules(engine, settings)
    same()
    merge_id = merge(session, c, a, actor="t")
    session.commit()
    same()
    unmerge(session, merge_id, actor="t")
    session.commit()
    same()
    delete_rule(session, rule.id, actor="t")
    session.commit()
    same()
    recompute(engine, settings, reference_date=DAY)
    refresh_copy(fresh, full=True)
    assert _tables(settings.resolved_analytics_path) == _tables(fresh.resolved_analytics_path)


def test_sqlite_is_read_with_the_processes_own_sqlite_library(database_url: str) -> None:
    """ADBC's SQLite driver links a second copy of SQLite; two copies in a process that also
    writes the database corrupt it (seen under load). The copy must read through sqlite3."""
    import sqlite3

    from siyu.analytics.source import Source

    if not database_url.startswith("sqlite"):
        return
    with Source(database_url) as src:
        assert isinstance(src._conn, sqlite3.Connection)
