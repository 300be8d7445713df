"""``siyu loyalty import-balances FILE``: members moving from Youzan, Weimob or a POS bring their
points (with their expiry dates), their tier and their join date.

The people come first, through the customer import (``siyu import customers``), which owns
identities and consent; this file is matched to them by phone or member number, and a row whose
person is not there yet is set aside in the rejects file saying so. Each row becomes the
member's enrolment (channel ``import``), an opening lot per expiry date (source ``opening`` and
the date: importing the same file again finds its lots and writes nothing; another amount for
the same member and date is refused and set aside), and the tier, recorded in the history as
``import``. Each row is its own savepoint: a bad row never undoes a good one.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock, csvsafe
from siyu.config import get_settings
from siyu.customers.queries import customers_by_identity
from siyu.ingest.reader import ImportFileError, check_path, detect_encoding
from siyu.loyalty.ledger import POINTS_MAX, LoyaltyError, NoSuchMember, add_months
from siyu.loyalty.models import Member, Programme, Tier
from siyu.loyalty.service import earn, enrol
from siyu.loyalty.tiers import move_to
from siyu.refusals import Refusal

# the columns, by the names exports give them (Youzan, Weimob, POS systems, our own)
ALIASES = {
    "phone": ("手机号", "手机号码", "手机", "phone", "mobile"),
    "member_no": ("会员卡号", "会员号", "卡号", "member_id", "member_no"),
    "points": ("积分", "可用积分", "积分余额", "当前积分", "points"),
    "expires": ("积分过期时间", "过期时间", "积分有效期", "expires_at", "expires"),
    "tier": ("会员等级", "等级", "等级名称", "tier"),
    "joined": ("入会时间", "成为会员时间", "注册时间", "开卡时间", "joined_at"),
}
Progress = Callable[[int], None]


@dataclass
class BalancesSummary:
    rows: int = 0
    enrolled: int = 0  # memberships made now (the rest were members already)
    lots: int = 0  # opening lots written now
    points: int = 0
    unchanged: int = 0  # rows whose lot was there from an earlier import
    tiers: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    rejects_path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rejected": dict(self.rejected)}


class RowRejected(ValueError):
    """Why one row is set aside (its words go to the rejects file)."""


def import_balances(
    session: Session,
    programme_code: str,
    path: Path,
    *,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
) -> BalancesSummary:
    settings = get_settings()
    programme = session.scalar(sa.select(Programme).where(Programme.code == programme_code))
    if programme is None:
        raise NoSuchMember("no loyalty programme {code}", code=programme_code)
    check_path(path, settings.import_max_bytes)
    raw = path.read_bytes()
    text = raw.decode(detect_encoding(raw[:65536]))
    reader = csv.reader(io.StringIO(text))
    header = [csvsafe.unquote(h.strip()) or "" for h in next(reader, [])]
    columns = _columns(header)
    rows = list(reader)
    tz = ZoneInfo(settings.timezone)
    tiers = {
        t.code: t for t in session.scalars(sa.select(Tier).where(Tier.programme_id == programme.id))
    }
    tiers.update({t.name: t for t in list(tiers.values())})
    who = _people(session, programme, rows, columns)
    summary = BalancesSummary()
    rejects: list[tuple[int, str, list[str]]] = []
    for n, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        summary.rows += 1
        try:
            done = BalancesSummary()
            with session.begin_nested():
                _row(session, programme, row, columns, who, tiers, tz, done)
            # counted once the row's savepoint holds (a rejected row counts nothing)
            summary.enrolled += done.enrolled
            summary.lots += done.lots
            summary.points += done.points
            summary.unchanged += done.unchanged
            summary.tiers += done.tiers
        except (RowRejected, Refusal) as exc:
            reason = str(exc)
            summary.rejected[reason] += 1
            rejects.append((n, reason, row))
        if progress and summary.rows % 1000 == 0:
            progress(summary.rows)
    if rejects:
        out = rejects_path or settings.data_dir / "rejects" / f"balances-{path.stem}.rejects.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8-sig", newline="") as fh:
            w = csvsafe.writer(fh)
            w.writerow(["行号 line", "原因 reason", *header])
            for n, reason, row in rejects:
                w.writerow([n, reason, *row])
        summary.rejects_path = str(out)
    if progress:
        progress(summary.rows)
    return summary


def _columns(header: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for i, name in enumerate(header):
        for field_name, names in ALIASES.items():
            if name in names or name.lower() in names:
                columns.setdefault(field_name, i)
    if "points" not in columns:
        raise ImportFileError(
            "no points column (积分 / 可用积分 / points) in the file's first line"
        )
    if "phone" not in columns and "member_no" not in columns:
        raise ImportFileError(
            "no phone (手机号) or member number (会员卡号) column in the file's first line"
        )
    return columns


def _cell(row: list[str], columns: dict[str, int], name: str) -> str:
    i = columns.get(name)
    if i is None or i >= len(row):
        return ""
    return (csvsafe.unquote(row[i].strip()) or "").strip()


def _people(
    session: Session, programme: Programme, rows: list[list[str]], columns: dict[str, int]
) -> dict[tuple[str, str], int]:
    """Customers by (kind, value as written), looked up in bulk."""
    from siyu.brands.service import brand_code_of

    found: dict[tuple[str, str], int] = {}
    phones = [_cell(r, columns, "phone") for r in rows]
    for raw, cid in customers_by_identity(session, "phone", "", [p for p in phones if p]).items():
        found[("phone", raw)] = cid
    numbers = [x for x in (_cell(r, columns, "member_no") for r in rows) if x]
    if numbers:
        # a brand's member numbers are its own; a group programme's may be any brand's
        space = brand_code_of(session, programme.brand_id) if programme.brand_id else None
        for raw, cid in customers_by_identity(session, "member_id", space, numbers).items():
            found[("member_no", raw)] = cid
    return found


def _row(
    session: Session,
    programme: Programme,
    row: list[str],
    columns: dict[str, int],
    who: dict[tuple[str, str], int],
    tiers: dict[str, Tier],
    tz: ZoneInfo,
    summary: BalancesSummary,
) -> None:
    phone, number = _cell(row, columns, "phone"), _cell(row, columns, "member_no")
    customer = who.get(("phone", phone)) if phone else None
    if customer is None and number:
        customer = who.get(("member_no", number))
    if customer is None:
        raise RowRejected("no customer with this phone or member number: import the members first")
    points_text = _cell(row, columns, "points").replace(",", "")
    try:
        points = int(points_text or "0")
    except ValueError:
        raise RowRejected(f"points {points_text[:20]!r} is not a whole number") from None
    if not 0 <= points <= POINTS_MAX:
        raise RowRejected(f"points must be 0–{POINTS_MAX}")
    expires = _date(_cell(row, columns, "expires"), "expires", tz, end_of_day=True)
    joined = _date(_cell(row, columns, "joined"), "joined", tz)
    tier_name = _cell(row, columns, "tier")
    tier = None
    if tier_name:
        tier = tiers.get(tier_name)
        if tier is None:
            raise RowRejected(f"no tier {tier_name[:40]!r} in the programme: add it first")
    existing = session.scalar(
        sa.select(Member).where(Member.programme_id == programme.id, Member.customer_id == customer)
    )
    member = existing or enrol(session, programme, customer, channel="import")
    if existing is None:
        summary.enrolled += 1
        if joined is not None:
            member.joined_at = joined
    now = clock.now()
    if points:
        if expires is not None and expires <= now:
            raise RowRejected("these points expired already")
        until = expires or (add_months(now, programme.lot_months) if programme.lot_months else None)
        # one opening lot per member and expiry day (in the brand's time); the one with no date
        # is keyed alike whatever day the file is imported again
        day = expires.astimezone(tz).date().isoformat() if expires else "default"
        source = ("opening", day)
        done = earn(
            session,
            member.id,
            source,
            points,
            available_at=now,
            expires_at=until,
            reason="opening balance",
        )
        if done.again:
            summary.unchanged += 1
        else:
            summary.lots += 1
            summary.points += points
    if tier is not None and member.tier_id != tier.id:
        move_to(session, member, tier, "import")
        summary.tiers += 1
    session.flush()


def _date(text: str, name: str, tz: ZoneInfo, *, end_of_day: bool = False) -> datetime | None:
    if not text:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if len(text) <= 10 and end_of_day:
            parsed = datetime.combine(parsed.date(), time(23, 59, 59))
        return parsed.replace(tzinfo=tz).astimezone(UTC)
    raise RowRejected(f"{name}: {text[:30]!r} is not a date (2026-12-31)")


__all__ = ["BalancesSummary", "LoyaltyError", "import_balances"]
