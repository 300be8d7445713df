"""Migration 0025 on a ledger that already holds campaigns' rows: every row is kept as the
campaign's (origin 'campaign', its campaign as origin_id), the campaign's counts are the same
before and after, the new key refuses a second row for the same message, and going back down
restores the campaign key. On the engine the suite runs on (a database of its own)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa


@pytest.fixture()
def empty_url(tmp_path: Path) -> Iterator[str]:
    target = os.environ.get("SIYU_TEST_DATABASE_URL", "sqlite")
    if target == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    schema = f"m_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(target, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in target else "?"
    try:
        yield f"{target}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _old_ledger() -> sa.Table:
    """send_ledger's columns as 0024 left them (those a row needs)."""
    from siyu.db import UTCDateTime

    return sa.Table(
        "send_ledger",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.Integer),
        sa.Column("step", sa.Integer),
        sa.Column("customer_id", sa.Integer),
        sa.Column("channel", sa.String),
        sa.Column("variant", sa.String),
        sa.Column("state", sa.String),
        sa.Column("reason", sa.String),
        sa.Column("attempts", sa.Integer),
        sa.Column("due_at", UTCDateTime),
        sa.Column("send_by", UTCDateTime),
        sa.Column("created_at", UTCDateTime),
    )


def test_campaign_rows_are_kept_and_counted_the_same(empty_url: str) -> None:
    from alembic import command

    from siyu.db import make_engine, utcnow
    from siyu.migrations.runner import alembic_config, upgrade
    from siyu.reach.models import Campaign, SendOrigin, SendRow
    from siyu.reach.sending.ledger import counts

    upgrade(empty_url, revision="0024")
    engine = make_engine(empty_url)
    now = utcnow()
    try:
        with sa.orm.Session(engine) as session:
            a = Campaign(name="A", channel="sms", created_by="t")
            b = Campaign(name="B", channel="sms", created_by="t")
            session.add_all([a, b])
            session.commit()
            ids = (a.id, b.id)
        states = ["sent", "sent", "skipped", "held_out", "pending", "ambiguous"]
        rows = [
            {
                "campaign_id": cid,
                "step": step,
                "customer_id": customer,
                "channel": "sms",
                "variant": "",
                "state": states[(customer + step) % len(states)],
                "reason": None,
                "attempts": 0,
                "due_at": now,
                "send_by": now + timedelta(hours=72),
                "created_at": now,
            }
            for cid in ids
            for step in (0, 1)
            for customer in range(1, 8)
        ]
        with engine.begin() as conn:
            conn.execute(sa.insert(_old_ledger()), rows)
            before: dict[int, dict[str, int]] = {
                cid: dict(
                    conn.execute(
                        sa.text(
                            "SELECT state, count(*) FROM send_ledger WHERE campaign_id = :c "
                            "GROUP BY state"
                        ),
                        {"c": cid},
                    ).all()
                )
                for cid in ids
            }
        upgrade(empty_url)
        with sa.orm.Session(engine) as session:
            kept = session.scalars(sa.select(SendRow).order_by(SendRow.id)).all()
            assert len(kept) == len(rows) == 28
            assert {(r.origin, r.origin_id == r.campaign_id) for r in kept} == {
                (SendOrigin.campaign, True)
            }
            for cid in ids:
                assert counts(session, cid) == before[cid]
            twice = kept[0]
            session.add(
                SendRow(
                    campaign_id=twice.campaign_id,  # origin and origin_id follow the campaign
                    step=twice.step,
                    customer_id=twice.customer_id,
                    channel="sms",
                    due_at=now,
                    send_by=now,
                )
            )
            with pytest.raises(sa.exc.IntegrityError):
                session.commit()
            session.rollback()
            session.add(
                SendRow(
                    origin=SendOrigin.transactional,
                    origin_id=twice.campaign_id,
                    step=twice.step,
                    customer_id=twice.customer_id,
                    channel="sms",
                    due_at=now,
                    send_by=now,
                    message={"text": "x"},
                )
            )
            session.commit()  # the same numbers under another origin are another message
        command.downgrade(alembic_config(empty_url), "0024")
        with engine.connect() as conn:
            left = conn.execute(sa.text("SELECT count(*) FROM send_ledger")).scalar()
            assert left == 28  # the campaigns' rows; the transactional one had no place
            columns = {c["name"] for c in sa.inspect(conn).get_columns("send_ledger")}
            assert "origin" not in columns and "message" not in columns
        upgrade(empty_url)
    finally:
        engine.dispose()


def test_customers_and_what_hangs_off_them_survive_the_id_migration(empty_url: str) -> None:
    """0032 rebuilds the customer table on SQLite (AUTOINCREMENT) in the same run as 0031:
    every customer, identity and member-centre session (which would cascade) is still there,
    foreign keys are on again, and the next id is past every one the ledger holds."""
    from siyu.migrations.runner import upgrade

    upgrade(empty_url, revision="0030")
    engine = sa.create_engine(empty_url)
    now = "2026-01-01 00:00:00.000000" if empty_url.startswith("sqlite") else "2026-01-01"
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            for i in (1, 2, 3):
                conn.execute(
                    sa.text(
                        "INSERT INTO customer (id, status, suppressed, do_not_disturb,"
                        " created_at, updated_at) VALUES (:i, 'active', FALSE, FALSE, :t, :t)"
                    ),
                    {"i": i, "t": now},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO identity (customer_id, kind, namespace, value, source,"
                        " verified, created_at) VALUES (:i, 'phone', '', :v, 't', FALSE, :t)"
                    ),
                    {"i": i, "v": f"+861380000000{i}", "t": now},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO centre_session (token_hash, customer_id, csrf_token, method,"
                        " device, created_at, expires_at)"
                        " VALUES (:h, :i, 'c', 'sms', '', :t, :t)"
                    ),
                    {"h": f"h{i}", "i": i, "t": now},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO send_ledger (origin, origin_id, step, customer_id, channel,"
                    " variant, state, attempts, due_at, send_by, created_at) VALUES"
                    " ('campaign', '1', 0, 9, 'sms', '', 'sent', 1, :t, :t, :t)"
                ),
                {"t": now},
            )  # customer 9 was erased
        engine.dispose()
        upgrade(empty_url)
        engine = sa.create_engine(empty_url)
        with engine.connect() as conn:
            for table in ("customer", "identity", "centre_session"):
                assert conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar() == 3
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
                seq = "SELECT seq FROM sqlite_sequence WHERE name = 'customer'"
                assert conn.exec_driver_sql(seq).scalar() == 9
    finally:
        engine.dispose()
