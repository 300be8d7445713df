"""Arrivals attributed to a referrer, once, after the fraud checks (``growth.fraud``): a
member-centre sign-up from a member's link, a WeCom add through a code's contact way, an order
that named a code, or many at once (``attribute_many``: a backlog, an import, the benchmark)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.bulk import (
    chunks,
    collector_paused,
    db_time,
    insert_rows,
    rows_where_in,
    session_reads,
    utc_text,
)
from siyu.db import table_of
from siyu.growth.fraud import Arrival, Candidate, judge_many
from siyu.growth.models import Referral, ReferralCode, ReferralVisit, as_reasons
from siyu.growth.service import STATE_PREFIX, NoSuchCode, Referrer, find_code, network_key
from siyu.loyalty.queries import member_view
from siyu.privacy.service import families_of, family_of

log = logging.getLogger("siyu.growth")


def attribute(session: Session, referrer: Referrer, arrival: Arrival) -> Referral:
    """Attribute a new customer to the code's member, once: the first arrival of an invitee in
    a programme stays (a second code finds it), whatever the checks said of it."""
    done = attribute_many(session, [(referrer, arrival)])[0]
    found = session.get(Referral, done.id, populate_existing=True)
    assert found is not None
    return found


@dataclass(frozen=True, slots=True)
class Attributed:
    """What an arrival came to: its invitee's referral in the programme (the first one)."""

    id: int
    invitee_id: int
    referrer_id: int
    status: str
    reasons: list[str]


def attribute_many(
    session: Session, arrivals: Sequence[tuple[Referrer, Arrival]]
) -> list[Attributed]:
    """``attribute`` for many arrivals at once (imports, the benchmark, a backlog of WeCom
    adds): judged together in time order (``fraud.judge_many``), written in one statement per
    programme; an invitee already attributed keeps their first referral. Returns each
    arrival's referral, in the order given."""
    with collector_paused(collect=False):  # a batch's rows, freed by reference counting
        return _attribute_many(session, arrivals)


def _attribute_many(
    session: Session, arrivals: Sequence[tuple[Referrer, Arrival]]
) -> list[Attributed]:
    by_programme: dict[int, list[int]] = {}
    for n, (ref, _a) in enumerate(arrivals):
        by_programme.setdefault(ref.member.programme_id, []).append(n)
    out: dict[int, Attributed] = {}
    for programme_id, indexes in by_programme.items():
        rules = arrivals[indexes[0]][0].rules
        invitees = [arrivals[i][1].invitee_id for i in indexes]
        existing = _attributed_family(session, programme_id, invitees)
        fresh: list[int] = []
        seen: set[int] = set()
        for i in sorted(indexes, key=lambda i: arrivals[i][1].at):
            invitee = arrivals[i][1].invitee_id
            if invitee in existing or invitee in seen:
                continue
            seen.add(invitee)
            fresh.append(i)
        verdicts = judge_many(
            session, rules, [Candidate(arrivals[i][0].member, arrivals[i][1]) for i in fresh]
        )
        rows: list[_Row] = []
        for i, verdict in zip(fresh, verdicts, strict=True):
            ref, a = arrivals[i]
            rows.append(
                _Row(
                    programme_id,
                    ref.code.id,
                    ref.member.id,
                    a.invitee_id,
                    a.channel,
                    a.visit_id,
                    a.device[:40],
                    a.address[:64],
                    a.window_at,  # arrived_at: the sign-up (the link may be older)
                    ref.member.joined_at,
                    verdict.status,
                    verdict.reasons,
                    wechat=a.wechat[:32],
                )
            )
        # the codes' last use first: on SQLite this write begins the transaction, so the
        # savepoint around the insert is nested in it (a savepoint that began it would commit
        # the rows when released, whatever the caller does next)
        _used(session, sorted({arrivals[i][0].code.id for i in indexes}))
        if rows:
            made = _insert(session, programme_id, rows)
            log.info(
                "referrals in programme %s: %s",
                programme_id,
                ", ".join(f"{r.invitee_id} {r.status} {'+'.join(r.reasons)}" for r in rows[:20])
                + (f" and {len(rows) - 20} more" if len(rows) > 20 else ""),
            )
            theirs = []  # another process attributed these meanwhile: theirs stays
            for r in rows:
                if r.invitee_id in made:
                    existing[r.invitee_id] = Attributed(
                        made[r.invitee_id], r.invitee_id, r.referrer_id, r.status, list(r.reasons)
                    )
                else:
                    theirs.append(r.invitee_id)
            existing.update(_attributed(session, programme_id, theirs))
        for i in indexes:
            out[i] = existing[arrivals[i][1].invitee_id]
    return [out[i] for i in range(len(arrivals))]


REFERRAL = table_of(Referral)


def _used(session: Session, code_ids: list[int]) -> None:
    conn = session_reads(session)
    now = db_time(conn, clock.now())
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    for part in chunks(code_ids, 5000):
        marks = ", ".join([mark] * len(part))
        conn.exec_driver_sql(
            f"UPDATE referral_code SET used_at = {mark} WHERE id IN ({marks})",  # noqa: S608 - marks only
            (now, *part),
        )


class _Row(NamedTuple):
    """A new referral as written: the columns given (the others keep their empty defaults)."""

    programme_id: int
    code_id: int
    referrer_id: int
    invitee_id: int
    channel: str
    visit_id: int | None
    device: str
    address: str
    arrived_at: datetime
    referrer_joined_at: datetime
    status: str
    reasons: list[str]
    decided_by: str = ""
    order_fen: int = 0
    wechat: str = ""


def _insert(session: Session, programme_id: int, rows: list[_Row]) -> dict[int, int]:
    """The new referrals in one statement; if another process attributed one of the invitees
    meanwhile, one by one (theirs stays). Returns the id of each invitee's row written here."""
    conn = session.connection()
    stamp = utc_text if conn.dialect.name == "sqlite" else _aware
    dumped: dict[tuple[str, ...], str] = {}  # the few combinations of reasons, serialised once
    stored = []
    for r in rows:
        reasons = tuple(r.reasons)
        if reasons not in dumped:
            dumped[reasons] = json.dumps(r.reasons)
        if r.arrived_at.tzinfo is None or r.referrer_joined_at.tzinfo is None:
            raise ValueError("naive datetime given; Siyu stores timezone-aware UTC only")
        stored.append(
            (
                *r[:8],
                stamp(r.arrived_at),
                stamp(r.referrer_joined_at),
                r.status,
                dumped[reasons],
                *r[12:],
            )
        )
    # by plain SQL at the driver: no ORM bookkeeping or per-value processing for thousands of rows
    written = rows
    try:
        with session.begin_nested():
            insert_rows(session.connection(), REFERRAL, _Row._fields, stored)
    except sa.exc.IntegrityError:
        written = []
        for row, values in zip(rows, stored, strict=True):
            try:
                with session.begin_nested():
                    insert_rows(session.connection(), REFERRAL, _Row._fields, [values])
                written.append(row)
            except sa.exc.IntegrityError:
                pass
    return {
        int(invitee): int(rid)
        for invitee, rid in rows_where_in(
            session.connection(),
            "SELECT invitee_id, id FROM referral WHERE programme_id = ? AND invitee_id IN ({in})",
            (programme_id,),
            sorted(r.invitee_id for r in written),
        )
    }


def _aware(value: datetime) -> datetime:
    return value


def _attributed_family(
    session: Session, programme_id: int, invitees: Sequence[int]
) -> dict[int, Attributed]:
    """Each invitee's referral in the programme, or one of a profile merged into theirs (the
    same person arriving again under another profile keeps the first)."""
    families = families_of(session, invitees)
    found = _attributed(session, programme_id, [m for f in families.values() for m in f])
    out: dict[int, Attributed] = {}
    for invitee, family in families.items():
        mine = [found[m] for m in family if m in found]
        if mine:
            out[invitee] = min(mine, key=lambda a: a.id)
    return out


def _attributed(
    session: Session, programme_id: int, invitees: Sequence[int]
) -> dict[int, Attributed]:
    found: dict[int, Attributed] = {}
    if not invitees:
        return found
    for rid, invitee, referrer, status, reasons in rows_where_in(
        session_reads(session),
        "SELECT id, invitee_id, referrer_id, status, reasons FROM referral"
        " WHERE programme_id = ? AND invitee_id IN ({in})",
        (programme_id,),
        sorted(set(invitees)),
    ):
        if invitee is not None:
            if isinstance(reasons, str | bytes):  # SQLite gives JSON back as text
                reasons = json.loads(reasons)
            found[int(invitee)] = Attributed(
                int(rid), int(invitee), int(referrer), str(status), as_reasons(reasons)
            )
    return found


def joined_by_link(session: Session, data: dict[str, Any]) -> Referral | None:
    """A member-centre join whose link named a referral visit (``via`` ``referral:<visit>``).
    The visit must have been made on the device that signed up, within the programme's
    arrival days: a ``via`` copied into another browser credits nobody."""
    kind, _sep, ref = str(data.get("via") or "").partition(":")
    if kind != "referral" or not (ref.isascii() and ref.isdigit()) or len(ref) > 15:
        return None
    visit = session.get(ReferralVisit, int(ref))
    member = member_view(session, int(data.get("member") or 0))
    if visit is None or member is None or member.customer_id is None:
        return None
    code = session.get(ReferralCode, visit.code_id)
    if code is None or code.programme_id != member.programme_id:
        return None
    try:
        referrer = find_code(session, code.code)
    except NoSuchCode:
        return None
    device = str(data.get("device") or "")
    if not device or device != visit.device:
        log.info("referral visit %s named by a sign-up on another device: not credited", visit.id)
        return None
    joined = member.joined_at
    if joined - visit.at > timedelta(days=referrer.rules.arrival_days):
        return None
    arrival = Arrival(
        invitee_id=member.customer_id,
        channel="centre",
        at=visit.at,
        device=device,
        address=network_key(str(data.get("address") or "")),
        visit_id=visit.id,
        signed_up_at=max(joined, visit.at),
        wechat=str(data.get("wechat") or "")[:32],
    )
    return _with_orders(session, attribute(session, referrer, arrival))


def added_by_state(session: Session, data: dict[str, Any]) -> Referral | None:
    """A WeCom add whose contact way's state names a referral code (``r_<code>``)."""
    state = str(data.get("state") or "")
    customer = data.get("customer")
    if not state.startswith(STATE_PREFIX) or not isinstance(customer, int):
        return None
    try:
        referrer = find_code(session, state[len(STATE_PREFIX) :])
    except NoSuchCode:
        return None
    if referrer.code.way_corp_id is not None and data.get("corp") != referrer.code.way_corp_id:
        return None  # the state came through another corp's contact way: not this code's
    try:
        at = datetime.fromisoformat(str(data.get("at")))
    except ValueError:
        at = clock.now()
    made = attribute(session, referrer, Arrival(invitee_id=customer, channel="wecom", at=at))
    return _with_orders(session, made)


def _with_orders(session: Session, referral: Referral) -> Referral:
    """An invitee may have paid before their arrival was heard of (the reactions come in any
    order): their paid orders since the arrival are looked at now."""
    from siyu.growth.rewards import follow_orders
    from siyu.orders.queries import paid_orders_since

    if referral.invitee_id is not None and referral.order_id is None:
        family = family_of(session, referral.invitee_id)
        if follow_orders(session, paid_orders_since(session, family, referral.arrived_at)):
            session.expire(referral)  # its order was set by a plain UPDATE
    return referral


def ordered_with_code(session: Session, data: dict[str, Any]) -> Referral | None:
    """An order that named a referral code: its buyer arrives by the order (when the order was
    placed), and the order itself is then looked at for the rewards (the order's own news may
    have been heard before this)."""
    from siyu.growth.rewards import follow_orders
    from siyu.orders.queries import order_states

    order_id, customer = data.get("order"), data.get("customer")
    if not isinstance(order_id, int) or not isinstance(customer, int):
        return None
    try:
        referrer = find_code(session, str(data.get("code") or ""))
    except NoSuchCode:
        return None
    found = order_states(session, [order_id])
    if not found or found[0][3] is None:
        return None
    at = found[0][8] or found[0][7] or clock.now()  # ordered at, else paid at
    made = attribute(
        session, referrer, Arrival(invitee_id=int(found[0][3]), channel="order", at=at)
    )
    session.flush()
    follow_orders(session, [order_id])
    return made
