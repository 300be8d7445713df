"""``siyu loyalty backfill``: points for a brand's order history, for a programme that starts
from it.

Orders go in id ranges, each range one transaction of three set statements: the lots (one per
order, skipped where the order already has one: run it again and nothing changes), their earn
entries, and the balance summaries. The arithmetic is ``rules.SpendRates.points`` written as
SQL; a test holds the two equal. The rules are read once at the start, so a rule changed while
it runs applies to the orders that come after it, never to half of the history. Members who owe
points after a refund go one order at a time (``orders.settle``), because an earning repays a
debt first.

It reads the order tables by SQL, as the metrics and traits do, because the one-statement-per-
range shape is what makes it fast (DESIGN §6); what it reads is the columns ``orders.queries.
order_states`` names.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import db_time
from siyu.db import write_transaction
from siyu.loyalty.ledger import POINTS_MAX, LoyaltyError, NoSuchMember, add_months
from siyu.loyalty.models import Programme
from siyu.loyalty.orders import settle_orders
from siyu.loyalty.rules import SCALE, SpendRates, spend_rates
from siyu.orders.queries import PAID_STATUSES

CHUNK = 50_000
Progress = Callable[[int, int], None]


@dataclass
class BackfillSummary:
    programme: str
    orders: int = 0  # orders read (every status, every customer)
    earned: int = 0  # orders that earned a lot now
    points: int = 0
    one_by_one: int = 0  # orders of members in debt, settled one at a time
    seconds: float = 0.0


def backfill(
    engine: Engine,
    programme_code: str,
    *,
    since: datetime | None = None,
    chunk: int = CHUNK,
    progress: Progress | None = None,
) -> BackfillSummary:
    """Earn points for the programme's members' paid orders (since ``since``: by default as far
    back as points last, so no lot is born expired) under the rules as they are now."""
    started = time.perf_counter()
    with Session(engine) as session:
        programme = session.scalar(sa.select(Programme).where(Programme.code == programme_code))
        if programme is None:
            raise NoSuchMember("no loyalty programme {code}", code=programme_code)
        rates = spend_rates(session, programme.id)
        session.expunge(programme)
    if not rates.earns:
        raise LoyaltyError("the programme has no spend rule: set one before a backfill")
    summary = BackfillSummary(programme_code)
    if since is None and programme.lot_months:
        since = _months_ago(clock.now(), programme.lot_months)
    plan = _Plan(programme, rates, since)
    with engine.connect() as conn:
        low, high = conn.execute(sa.text('SELECT min(id), max(id) FROM "order"')).one()
    if low is None:
        return summary
    total = high - low + 1
    for start in range(low, high + 1, chunk):
        with write_transaction(engine) as conn:
            plan.chunk(conn, start, min(start + chunk, high + 1), summary)
        if progress:
            progress(min(start + chunk, high + 1) - low, total)
    summary.seconds = time.perf_counter() - started
    return summary


def _months_ago(moment: datetime, months: int) -> datetime:
    return add_months(moment, -months)


class _Plan:
    """The three statements for one programme, built once."""

    def __init__(self, programme: Programme, rates: SpendRates, since: datetime | None) -> None:
        self.programme, self.rates, self.since = programme, rates, since

    def chunk(self, conn: Connection, low: int, high: int, summary: BackfillSummary) -> None:
        sqlite = conn.dialect.name == "sqlite"
        stamp = clock.now()
        params: dict[str, Any] = {
            "p": self.programme.id,
            "brand": self.programme.brand_id,
            "lo": low,
            "hi": high,
            "now": db_time(conn, stamp),
            "since": db_time(conn, self.since),
            "far": db_time(conn, datetime(2100, 1, 1, tzinfo=UTC)),
            **{f"st{i}": s for i, s in enumerate(PAID_STATUSES)},
        }
        scope = self._scope(params)
        summary.orders += conn.execute(
            sa.text('SELECT count(*) FROM "order" o WHERE o.id >= :lo AND o.id < :hi'),
            params,
        ).scalar_one()
        if not sqlite:
            conn.execute(sa.text("SET LOCAL TimeZone = 'UTC'"))
            conn.execute(
                sa.text(
                    'SELECT b.member_id FROM "order" o CROSS JOIN loyalty_member m'
                    " CROSS JOIN points_balance b WHERE m.customer_id = o.customer_id"
                    f" AND b.member_id = m.id AND {scope} ORDER BY b.member_id FOR UPDATE OF b"
                ),
                params,
            )
        lot0, entry0 = conn.execute(
            sa.text("SELECT (SELECT max(id) FROM points_lot), (SELECT max(id) FROM points_entry)")
        ).one()
        params["lot0"], params["entry0"] = lot0 or 0, entry0 or 0
        conn.execute(sa.text(self._lots_sql(sqlite, scope, params)), params)
        conn.execute(
            sa.text(
                "INSERT INTO points_entry (member_id, lot_id, lot_key, kind, points, source_kind,"
                " source_id, linked, covers, reason, created_at)"
                " SELECT l.member_id, l.id, l.id, 'earn', l.points, l.source_kind, l.source_id,"
                " '', 0, '', l.created_at FROM points_lot l"
                " WHERE l.id > :lot0 AND l.created_at = :now AND l.source_kind = 'order'"
                " ON CONFLICT DO NOTHING"
            ),
            params,
        )
        made = conn.execute(
            sa.text(
                "SELECT count(*), coalesce(sum(points), 0) FROM points_entry"
                " WHERE id > :entry0 AND kind = 'earn' AND created_at = :now"
            ),
            params,
        ).one()
        summary.earned += int(made[0])
        summary.points += int(made[1])
        # +member_id on SQLite: group what the id range finds, never walk the whole ledger's
        # index for the order of the GROUP BY (PostgreSQL needs the plain column)
        group = "+member_id" if sqlite else "member_id"
        conn.execute(
            sa.text(
                "UPDATE points_balance SET remaining = remaining + s.p, earned = earned + s.p,"
                " updated_at = :now FROM (SELECT member_id, sum(points) AS p FROM points_entry"
                " WHERE id > :entry0 AND kind = 'earn' AND created_at = :now"
                f" GROUP BY {group}) AS s WHERE points_balance.member_id = s.member_id"
            ),
            params,
        )
        owing = [
            int(r[0])
            for r in conn.execute(
                sa.text(
                    'SELECT DISTINCT o.id FROM "order" o CROSS JOIN loyalty_member m'
                    " CROSS JOIN points_balance b WHERE m.customer_id = o.customer_id"
                    f" AND b.member_id = m.id AND {scope} AND b.debt > 0"
                ),
                params,
            )
        ]
        if owing:
            with Session(bind=conn) as session:
                settle_orders(
                    session,
                    owing,
                    history=True,
                    rates={self.programme.id: self.rates},
                    programme_id=self.programme.id,
                )
                session.flush()
            summary.one_by_one += len(owing)

    def _scope(self, params: dict[str, Any]) -> str:
        """Which orders of the range, and which members: paid, money left after refunds,
        the programme's brand, since the start date."""
        statuses = ", ".join(f":st{i}" for i in range(len(PAID_STATUSES)))
        where = [
            "o.id >= :lo AND o.id < :hi",
            f"o.status IN ({statuses})",
            "o.paid_fen > o.refund_fen",
            "m.programme_id = :p",
            "m.status = 'active'",
        ]
        if self.programme.brand_id is not None:
            where.append("o.brand_id = :brand")
        if self.since is not None:
            where.append("coalesce(o.paid_at, o.ordered_at) >= :since")
        # an order dated past 2100 is a typo; its dates would not add up on every engine
        where.append("coalesce(o.paid_at, o.ordered_at, :now) < :far")
        return " AND ".join(where)

    def _rate_sql(self, params: dict[str, Any]) -> str:
        cases = []
        for i, (store, rate) in enumerate(self.rates.by_store.items()):
            params[f"ss{i}"], params[f"sr{i}"] = store, rate
            cases.append(f"WHEN o.store_id = :ss{i} THEN CAST(:sr{i} AS BIGINT)")
        for i, (brand, rate) in enumerate(self.rates.by_brand.items()):
            params[f"bb{i}"], params[f"br{i}"] = brand, rate
            cases.append(f"WHEN o.brand_id = :bb{i} THEN CAST(:br{i} AS BIGINT)")
        params["dr"] = self.rates.default
        if not cases:
            return "CAST(:dr AS BIGINT)"
        return f"CASE {' '.join(cases)} ELSE CAST(:dr AS BIGINT) END"

    def _lots_sql(self, sqlite: bool, scope: str, params: dict[str, Any]) -> str:
        rate = self._rate_sql(params)
        net = "(o.paid_fen - o.refund_fen)"
        units = f"{net} * {rate}"
        lines = ""
        if self.rates.by_category:
            # sums as BIGINT: PostgreSQL sums integers into NUMERIC, whose division is exact
            # and whose insert into an integer column rounds, where the arithmetic floors
            sums = [
                "CAST(sum(CASE WHEN ol.amount_fen > 0 THEN ol.amount_fen ELSE 0 END) AS BIGINT)"
                " AS tot"
            ]
            for i, (category, cat_rate) in enumerate(self.rates.by_category.items()):
                params[f"cc{i}"], params[f"cr{i}"] = category, cat_rate
                sums.append(
                    f"CAST(sum(CASE WHEN ol.amount_fen > 0 AND ol.category = :cc{i}"
                    f" THEN ol.amount_fen ELSE 0 END) AS BIGINT) AS a{i}"
                )
                units += (
                    f" + CASE WHEN lc.tot > 0 THEN {net} * lc.a{i} / lc.tot"
                    f" * (CAST(:cr{i} AS BIGINT) - {rate}) ELSE 0 END"
                )
            lines = (
                f" LEFT JOIN (SELECT ol.order_id, {', '.join(sums)} FROM order_line ol"
                " WHERE ol.order_id >= :lo AND ol.order_id < :hi GROUP BY ol.order_id) lc"
                " ON lc.order_id = o.id"
            )
        points = f"({units}) * coalesce(t.multiplier_pct, 100) / {SCALE}"
        paid = "coalesce(o.paid_at, o.ordered_at, :now)"
        days, months = self.programme.pending_days, self.programme.lot_months
        if sqlite:
            available = (
                f"strftime('%Y-%m-%d %H:%M:%S', {paid}, '+{days} days') || substr({paid}, 20)"
            )
            expires = (
                "NULL"
                if not months
                else (
                    f"CASE WHEN strftime('%d', x.av, '+{months} months') = strftime('%d', x.av)"
                    f" THEN strftime('%Y-%m-%d %H:%M:%S', x.av, '+{months} months')"
                    f" ELSE date(x.av, 'start of month', '+{months + 1} months', '-1 day')"
                    " || ' ' || time(x.av) END || substr(x.av, 20)"
                )
            )
        else:
            available = f"{paid} + make_interval(days => {days})"
            expires = "NULL" if not months else f"x.av + make_interval(months => {months})"
        return (
            # MATERIALIZED: each row's points and dates computed once (flattened, the dates'
            # expressions would be computed again wherever they are named)
            f"WITH x AS MATERIALIZED (SELECT m.id AS member_id, CAST(o.id AS VARCHAR(20))"
            f" AS order_id, {points} AS pts, {net} AS net, {available} AS av"
            # CROSS JOIN: the range of orders leads (SQLite keeps the order of a CROSS JOIN;
            # led by the programme's members it would walk all of them for every range)
            ' FROM "order" o CROSS JOIN loyalty_member m CROSS JOIN points_balance b'
            f" LEFT JOIN loyalty_tier t ON t.id = m.tier_id{lines}"
            " WHERE m.customer_id = o.customer_id AND b.member_id = m.id"
            f" AND {scope} AND b.debt = 0)"
            " INSERT INTO points_lot (member_id, source_kind, source_id, points, basis_fen,"
            " available_at, expires_at, created_at)"
            f" SELECT x.member_id, 'order', x.order_id, x.pts, x.net, x.av, {expires}, :now"
            f" FROM x WHERE x.pts > 0 AND x.pts <= {POINTS_MAX}"
            " ON CONFLICT DO NOTHING"
        )
