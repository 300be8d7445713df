"""Channel live codes (渠道活码): create them at WeCom, rotate staff behind them, count what
each channel brings.

Rotation: the contact way holds one staff member at a time; after each add credited to the code
the next eligible member takes over (round robin, or weighted: a member of weight 3 takes three
turns in a row's worth of a cycle). A member is skipped once they reached their daily limit for
this code or are near WeCom's 5,000-friend cap; an alert says so. The QR code never changes.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from siyu import clock
from siyu.accounts.service import Principal, record_audit
from siyu.brands.models import Store
from siyu.config import Settings, get_settings
from siyu.customers.service import only_visible
from siyu.refusals import Refusal
from siyu.tags.service import TagError, find_tag
from siyu.wecom.connection.client import WecomClient, WecomError
from siyu.wecom.connection.models import WecomStaff
from siyu.wecom.contacts.alerts import friend_counts, raise_alert
from siyu.wecom.contacts.models import WecomContact
from siyu.wecom.live_codes.models import LiveCode, LiveCodeStaff, WelcomeMessage
from siyu.wecom.live_codes.welcome import WelcomeError, check_template

CHANNELS = {
    "store": "门店",
    "poster": "海报",
    "parcel": "包裹卡",
    "live": "直播",
    "ad": "广告投放",
    "event": "线下活动",
    "other": "其他",
}
ROTATIONS = ("round_robin", "weighted")
_STAFF_SPEC = re.compile(r"^([A-Za-z0-9_.@-]{1,64})(?::(\d{1,3}))?(?::(\d{1,5}))?$")


class LiveCodeError(Refusal):
    """A live code request that cannot be done; the message says which part and why."""


class WecomRefused(LiveCodeError):
    """The request was fine by Siyu, but WeCom refused it (the API answers 502)."""


@dataclass(frozen=True)
class StaffSpec:
    userid: str
    weight: int = 1
    daily_limit: int = 0


def parse_staff(text: str) -> list[StaffSpec]:
    """``guide001:3:200,guide002`` → userid[:weight[:daily limit]] for each member."""
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        m = _STAFF_SPEC.match(part)
        if not m:
            raise LiveCodeError("staff {part!r}: write userid[:weight[:daily limit]]", part=part)
        weight = int(m.group(2) or 1)
        if not 1 <= weight <= 100:
            raise LiveCodeError("staff {part!r}: weight must be 1–100", part=part)
        specs.append(StaffSpec(m.group(1), weight, int(m.group(3) or 0)))
    return specs


def create_live_code(
    session: Session,
    client: WecomClient,
    corp_pk: int,
    *,
    name: str,
    staff: list[StaffSpec],
    channel: str = "other",
    rotation: str = "round_robin",
    skip_verify: bool = True,
    tag_paths: list[str] | None = None,
    welcome_text: str | None = None,
    store_code: str | None = None,
    actor: str,
) -> LiveCode:
    """Check everything, create the contact way at WeCom, then store the code."""
    name = name.strip()
    if not name or len(name) > 100:
        raise LiveCodeError("name: 1–100 characters")
    if channel not in CHANNELS:
        raise LiveCodeError("channel: one of {choices}", choices=", ".join(CHANNELS))
    if rotation not in ROTATIONS:
        raise LiveCodeError("rotation: one of {choices}", choices=", ".join(ROTATIONS))
    if not staff:
        raise LiveCodeError("staff: at least one staff member")
    if len({s.userid for s in staff}) != len(staff):
        raise LiveCodeError("staff: a member is listed twice")
    known = {
        s.userid: s
        for s in session.scalars(
            sa.select(WecomStaff).where(
                WecomStaff.corp_id == corp_pk, WecomStaff.userid.in_([s.userid for s in staff])
            )
        )
    }
    for spec in staff:
        member = known.get(spec.userid)
        if member is None:
            raise LiveCodeError(
                "staff {userid!r}: unknown (run siyu wecom sync first?)", userid=spec.userid
            )
        if member.status != 1 or not member.has_contact_rights:
            raise LiveCodeError(
                "staff {userid!r}: not active with customer-contact rights", userid=spec.userid
            )
    tag_ids = []
    for path in tag_paths or []:
        try:
            tag_ids.append(find_tag(session, path).id)
        except TagError as exc:
            raise LiveCodeError("tag: {reason}", reason=exc) from None
    store_id = None
    if store_code:
        store_id = session.scalar(sa.select(Store.id).where(Store.code == store_code))
        if store_id is None:
            raise LiveCodeError("store: no store with code {code!r}", code=store_code)
    if welcome_text:
        try:
            check_template(welcome_text)
        except WelcomeError as exc:
            raise LiveCodeError("welcome: {reason}", reason=exc) from None
    # WeCom first, the database after: no write lock is held across the calls (on SQLite the
    # server's callback inbox shares the process), and a refusal leaves nothing behind.
    settings = get_settings()
    state = "lc" + secrets.token_hex(6)
    friends = friend_counts(session, corp_pk, [s.userid for s in staff])
    first = first_member(staff, friends, settings.wecom_friend_stop_at)
    try:
        made = client.post(
            "externalcontact/add_contact_way",
            {
                "type": 2,
                "scene": 2,
                "style": 1,
                "remark": name[:30],
                "skip_verify": skip_verify,
                "state": state,
                "user": [first],
            },
        )
    except WecomError as exc:
        raise WecomRefused("WeCom refused the contact way: {reason}", reason=exc) from None
    qr_png = fetch_qr(made.get("qr_code"))
    welcome_id = None
    if welcome_text:
        welcome = WelcomeMessage(corp_id=corp_pk, name=f"{name} 欢迎语"[:100], text=welcome_text)
        session.add(welcome)
        session.flush()
        welcome_id = welcome.id
    code = LiveCode(
        corp_id=corp_pk,
        name=name,
        channel=channel,
        rotation=rotation,
        skip_verify=skip_verify,
        tag_ids=tag_ids,
        welcome_id=welcome_id,
        store_id=store_id,
        state=state,
        turn=0,
        config_id=made["config_id"],
        qr_url=made.get("qr_code"),
        qr_png=qr_png,
        current_userid=first,
    )
    session.add(code)
    session.flush()
    for i, spec in enumerate(staff):
        session.add(
            LiveCodeStaff(
                live_code_id=code.id,
                staff_userid=spec.userid,
                weight=spec.weight,
                daily_limit=spec.daily_limit,
                position=i,
            )
        )
    session.flush()
    record_audit(
        session, actor, "wecom.live_code.create", "live_code", str(code.id), {"name": name}
    )
    return code


def fetch_qr(url: str | None) -> bytes | None:
    """WeCom gives the QR code as an image URL; Siyu keeps the image so it can be printed on
    posters and parcel cards without depending on that URL later. None if it cannot be read."""
    if not url:
        return None
    try:
        resp = httpx.get(url, timeout=10)
    except httpx.HTTPError:
        return None
    if resp.status_code != 200 or not resp.content.startswith(b"\x89PNG"):
        return None
    return resp.content


# -- rotation ---------------------------------------------------------------------------------------
def _today_start(settings: Settings) -> datetime:
    local = clock.today(settings.tz)
    return datetime.combine(local, time(0), settings.tz).astimezone(UTC)


def adds_today(session: Session, code: LiveCode, settings: Settings) -> dict[str, int]:
    """Adds through the code today per member; with the keep-first-owner rule, customers who
    already had another guide do not count."""
    query = sa.select(WecomContact.staff_userid, sa.func.count()).where(
        WecomContact.corp_id == code.corp_id,
        WecomContact.state == code.state,
        WecomContact.added_at >= _today_start(settings),
    )
    if settings.wecom_keep_first_owner:
        query = query.where(~already_owned(WecomContact))
    rows = session.execute(query.group_by(WecomContact.staff_userid)).all()
    return {u: int(n) for u, n in rows}


def already_owned(contact: Any) -> sa.ColumnElement[bool]:
    """The customer of ``contact`` had a friendship with another member before this one."""
    earlier = aliased(WecomContact)
    return sa.exists().where(
        earlier.corp_id == contact.corp_id,
        earlier.customer_id == contact.customer_id,
        earlier.staff_userid != contact.staff_userid,
        sa.or_(
            earlier.added_at < contact.added_at,
            sa.and_(earlier.added_at == contact.added_at, earlier.id < contact.id),
        ),
    )


def first_owner(
    session: Session, corp_pk: int, customer_id: int, staff_userid: str
) -> WecomContact | None:
    """The customer's earliest live friendship with a member other than ``staff_userid``."""
    return session.scalar(
        sa.select(WecomContact)
        .where(
            WecomContact.corp_id == corp_pk,
            WecomContact.customer_id == customer_id,
            WecomContact.staff_userid != staff_userid,
            WecomContact.deleted_at.is_(None),
        )
        .order_by(WecomContact.added_at, WecomContact.id)
        .limit(1)
    )


def turn_order(members: Sequence[LiveCodeStaff], rotation: str) -> list[LiveCodeStaff]:
    """One cycle of turns: the members in their listed order, each once (round robin) or
    ``weight`` times in a row (weighted)."""
    ordered = sorted(members, key=lambda m: m.position)
    if rotation != "weighted":
        return ordered
    return [m for m in ordered for _ in range(m.weight)]


def choose_next(session: Session, code: LiveCode, settings: Settings) -> str | None:
    """The member for the code's next turn: the first eligible one from ``turn`` on."""
    members = list(
        session.scalars(sa.select(LiveCodeStaff).where(LiveCodeStaff.live_code_id == code.id))
    )
    if not members:
        return None
    return next_member(
        turn_order(members, code.rotation),
        code.turn,
        adds_today(session, code, settings),
        friend_counts(session, code.corp_id, [m.staff_userid for m in members]),
        settings.wecom_friend_stop_at,
    )


def next_member(
    cycle: Sequence[LiveCodeStaff],
    turn: int,
    adds_today: Mapping[str, int],
    friends: Mapping[str, int],
    stop_at: int,
) -> str | None:
    """``choose_next`` on plain values: from the cycle's ``turn`` (counted from the code's
    first add, so it wraps around), the first member below their daily limit for the code
    (0: none) and below ``stop_at`` friends; None when every member is at one or the other."""
    for step in range(len(cycle)):
        m = cycle[(turn + step) % len(cycle)]
        if m.daily_limit and adds_today.get(m.staff_userid, 0) >= m.daily_limit:
            continue
        if friends[m.staff_userid] >= stop_at:
            continue
        return m.staff_userid
    return None


def first_member(staff: Sequence[StaffSpec], friends: Mapping[str, int], stop_at: int) -> str:
    """Who a new code starts with: the first listed member below ``stop_at`` friends, or the
    first listed if all are at it (the code still works; adds go to them)."""
    return next((s.userid for s in staff if friends[s.userid] < stop_at), staff[0].userid)


def credit_add(
    session: Session, code: LiveCode, staff_userid: str, settings: Settings
) -> str | None:
    """An add came in through ``code``: count the turn, warn about a member near the friend cap
    or a code nobody can take adds for any more, and return the member to switch the code to
    (None to keep the current one). The caller commits before calling WeCom (``switch_to``), so
    no database write lock is held across a network call."""
    code.turn += 1
    friends = friend_counts(session, code.corp_id, [staff_userid])[staff_userid]
    if friends >= settings.wecom_friend_alert_at:
        raise_alert(
            session,
            code.corp_id,
            "capacity",
            f"{staff_userid} 已有 {friends} 位客户好友，接近企业微信 5,000 上限，请扩容或分流",
            staff_userid=staff_userid,
            once=True,
        )
    nxt = choose_next(session, code, settings)
    if nxt is None:
        raise_alert(
            session,
            code.corp_id,
            "live_code_full",
            f"活码「{code.name}」的员工今日都已达上限或接近好友上限，新客户仍会加到 {code.current_userid}",
            staff_userid=code.current_userid,
            once=True,
        )
        return None
    return nxt if nxt != code.current_userid and code.config_id else None


def switch_to(client: WecomClient, code: LiveCode, userid: str) -> None:
    """Put ``userid`` behind the code's QR at WeCom."""
    client.post(
        "externalcontact/update_contact_way", {"config_id": code.config_id, "user": [userid]}
    )
    code.current_userid = userid


# -- numbers ----------------------------------------------------------------------------------------
def stats(
    session: Session,
    code: LiveCode,
    days: int = 30,
    settings: Settings | None = None,
    principal: Principal | None = None,
) -> dict[str, Any]:
    """Adds, deletions and net adds by local day, and totals, for friendships this code brought
    (with the customers ``principal`` may see)."""
    settings = settings or get_settings()
    tz = settings.tz
    rows = session.execute(
        sa.select(WecomContact.staff_userid, WecomContact.added_at, WecomContact.deleted_at).where(
            WecomContact.corp_id == code.corp_id,
            WecomContact.state == code.state,
            only_visible(principal, WecomContact.customer_id),
        )
    ).all()
    today = clock.today(tz)
    first = today - timedelta(days=days - 1)
    by_day: dict[date, dict[str, int]] = {
        first + timedelta(days=i): {"adds": 0, "deletions": 0} for i in range(days)
    }
    by_staff: dict[str, int] = {}
    for staff, added, deleted in rows:
        by_staff[staff] = by_staff.get(staff, 0) + (deleted is None)
        if added is not None and (d := added.astimezone(tz).date()) in by_day:
            by_day[d]["adds"] += 1
        if deleted is not None and (d := deleted.astimezone(tz).date()) in by_day:
            by_day[d]["deletions"] += 1
    return {
        "live_code": code.id,
        "name": code.name,
        "adds": len(rows),
        "deletions": sum(1 for r in rows if r[2] is not None),
        "net_adds": sum(1 for r in rows if r[2] is None),
        "by_staff": by_staff,
        "days": [
            {"date": d.isoformat(), **v, "net": v["adds"] - v["deletions"]}
            for d, v in by_day.items()
        ],
    }
