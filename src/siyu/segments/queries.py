"""Read paths for segments: the list, one segment with its size history, member export."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import csvsafe
from siyu.accounts.service import Principal, record_audit
from siyu.bulk import chunks
from siyu.customers import CUSTOMERS_EXPORT, CUSTOMERS_UNMASK
from siyu.customers import identifiers as ids
from siyu.customers.masking import mask_optional
from siyu.customers.models import Customer
from siyu.customers.queries import phones_of
from siyu.customers.service import only_visible, sees_whole_pool
from siyu.refusals import Forbidden
from siyu.segments.models import Segment, SegmentMember, SegmentSize
from siyu.shapes import Number, Shape


class SegmentOut(Shape):
    """A segment as lists show it; ``scoped``: ``size`` counts only the customers the viewer
    may see."""

    id: int
    name: str
    description: str
    dynamic: bool
    rule: dict[str, Any] | None
    rule_text: str | None
    brand_id: int | None
    size: int
    scoped: bool
    created_by: str | None
    created_at: str | None
    refreshed_at: str | None
    data_as_of: str | None
    refresh_error: str | None


class StaticSegmentOut(SegmentOut):
    not_found: list[str]


class SizePoint(Shape):
    at: str | None
    size: int
    entered: int
    exited: int


class SegmentDetail(SegmentOut):
    history: list[SizePoint]


class CountOut(Shape):
    count: int
    data_as_of: str | None
    rule_text: str


class PreviewOut(Shape):
    count: int
    reach: dict[str, int]
    sample: list[dict[str, Any]]
    data_as_of: str | None
    rule_text: str


class RefreshOutcomeOut(Shape):
    segment_id: int
    name: str
    size: int
    entered: int
    exited: int
    checked: int | None
    baseline: bool
    error: str | None


class RefreshOut(Shape):
    outcomes: list[RefreshOutcomeOut]
    changed_customers: int | None
    seconds: Number


class FieldOp(Shape):
    op: str
    label: str


class FieldOut(Shape):
    """A field rules can use, with its operators and values."""

    name: str
    label: str
    group: str
    type: str
    ops: list[FieldOp]
    values: list[Any]
    closed: bool
    windowed: bool
    filters: list[Any]
    needs_event: bool
    unit: str | None


def segment_summary(seg: Segment, size: int | None = None) -> SegmentOut:
    """A segment as lists show it; ``size`` replaces its stored size when the viewer sees only
    part of the pool (``scoped``: the size counts only the customers they may see)."""
    return SegmentOut(
        id=seg.id,
        name=seg.name,
        description=seg.description,
        dynamic=seg.dynamic,
        rule=seg.rule,
        rule_text=seg.rule_text,
        brand_id=seg.brand_id,
        size=seg.size if size is None else size,
        scoped=size is not None,
        created_by=seg.created_by,
        created_at=_iso(seg.created_at),
        refreshed_at=_iso(seg.refreshed_at),
        data_as_of=_iso(seg.data_as_of),
        refresh_error=seg.refresh_error,
    )


def list_segments(session: Session, principal: Principal | None = None) -> list[SegmentOut]:
    """Every segment; a store guide sees each one's size over their own scope."""
    segments = list(session.scalars(sa.select(Segment).order_by(Segment.id)))
    if sees_whole_pool(principal):
        return [segment_summary(s) for s in segments]
    sizes = visible_sizes(session, principal, [s.id for s in segments])
    return [segment_summary(s, sizes.get(s.id, 0)) for s in segments]


def segment_view(session: Session, seg: Segment, principal: Principal | None) -> SegmentOut:
    """One segment as ``principal`` may see it (its size over their scope)."""
    if sees_whole_pool(principal):
        return segment_summary(seg)
    return segment_summary(seg, visible_sizes(session, principal, [seg.id]).get(seg.id, 0))


def visible_sizes(
    session: Session, principal: Principal | None, segment_ids: list[int]
) -> dict[int, int]:
    """Members per segment among the customers the principal may see."""
    if not segment_ids:
        return {}
    rows = session.execute(
        sa.select(SegmentMember.segment_id, sa.func.count())
        .where(
            SegmentMember.segment_id.in_(segment_ids),
            only_visible(principal, SegmentMember.customer_id),
        )
        .group_by(SegmentMember.segment_id)
    )
    return {sid: int(n) for sid, n in rows}


def size_history(
    session: Session, segment_id: int, limit: int = 200, principal: Principal | None = None
) -> list[SizePoint]:
    """How the size moved, refresh by refresh. The sizes were taken over the whole pool, so a
    viewer with a narrower scope gets none (their page says the trend is not theirs to see)."""
    if not sees_whole_pool(principal):
        return []
    rows = session.scalars(
        sa.select(SegmentSize)
        .where(SegmentSize.segment_id == segment_id)
        .order_by(SegmentSize.taken_at.desc(), SegmentSize.id.desc())
        .limit(limit)
    )
    return [
        SizePoint(at=_iso(r.taken_at), size=r.size, entered=r.entered, exited=r.exited)
        for r in reversed(list(rows))
    ]


def member_rows(
    session: Session, segment_id: int, *, unmask: bool, principal: Principal | None = None
) -> Iterator[dict[str, Any]]:
    """Members the principal may see, with masked (or, if ``unmask``, full) name and phone,
    in id order."""
    member_ids = list(
        session.scalars(
            sa.select(SegmentMember.customer_id)
            .where(
                SegmentMember.segment_id == segment_id,
                only_visible(principal, SegmentMember.customer_id),
            )
            .order_by(SegmentMember.customer_id)
        )
    )
    for part in chunks(member_ids, 2000):
        people = {
            c.id: c for c in session.scalars(sa.select(Customer).where(Customer.id.in_(part)))
        }
        phones = phones_of(session, part)
        for cid in part:
            c = people.get(cid)
            if c is None:
                continue
            phone = phones.get(cid)
            yield {
                "customer_id": cid,
                "name": c.name if unmask else ids.mask_name(c.name),
                "phone": phone if unmask else ids.mask_phone(phone),
                "city": c.city if unmask else mask_optional(c.city),
                "source": c.source,
            }


EXPORT_COLUMNS = ("customer_id", "name", "phone", "city", "source")


def export_members(
    session: Session, principal: Principal, segment_id: int, path: Path, *, unmask: bool = False
) -> int:
    """Write a segment's members to CSV (UTF-8 with BOM, so Excel reads the Chinese); masked
    unless asked and allowed. Every export is audit-logged; returns the rows written."""
    if not principal.can(CUSTOMERS_EXPORT):
        raise Forbidden("exporting customers needs the customers:export permission")
    show = unmask and principal.can(CUSTOMERS_UNMASK)
    if unmask and not show:
        raise Forbidden("unmasked export needs the customers:unmask permission")
    written = 0
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csvsafe.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        for row in member_rows(session, segment_id, unmask=show, principal=principal):
            writer.writerow(row)
            written += 1
    record_audit(
        session,
        principal.actor,
        "segment.export",
        "segment",
        str(segment_id),
        {"rows": written, "unmasked": show, "file": path.name},
    )
    return written


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def members_now(session: Session, segment_id: int) -> set[int]:
    """The customers in a segment now (as its last refresh left it), for figures by segment."""
    return set(
        session.scalars(
            sa.select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id)
        )
    )
