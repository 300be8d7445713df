"""Read paths for segments: the list, one segment with its size history, member export."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import csvsafe
from siyu.accounts.permissions import Perm
from siyu.accounts.service import Principal, record_audit
from siyu.bulk import chunks
from siyu.customers import identifiers as ids
from siyu.customers.models import Customer
from siyu.customers.queries import phones_of
from siyu.segments.models import Segment, SegmentMember, SegmentSize


def segment_summary(seg: Segment) -> dict[str, Any]:
    return {
        "id": seg.id,
        "name": seg.name,
        "description": seg.description,
        "dynamic": seg.dynamic,
        "rule": seg.rule,
        "rule_text": seg.rule_text,
        "brand_id": seg.brand_id,
        "size": seg.size,
        "created_by": seg.created_by,
        "created_at": _iso(seg.created_at),
        "refreshed_at": _iso(seg.refreshed_at),
        "data_as_of": _iso(seg.data_as_of),
        "refresh_error": seg.refresh_error,
    }


def list_segments(session: Session) -> list[dict[str, Any]]:
    return [segment_summary(s) for s in session.scalars(sa.select(Segment).order_by(Segment.id))]


def size_history(session: Session, segment_id: int, limit: int = 200) -> list[dict[str, Any]]:
    rows = session.scalars(
        sa.select(SegmentSize)
        .where(SegmentSize.segment_id == segment_id)
        .order_by(SegmentSize.taken_at.desc(), SegmentSize.id.desc())
        .limit(limit)
    )
    return [
        {"at": _iso(r.taken_at), "size": r.size, "entered": r.entered, "exited": r.exited}
        for r in reversed(list(rows))
    ]


def member_rows(session: Session, segment_id: int, *, unmask: bool) -> Iterator[dict[str, Any]]:
    """Members with masked (or, if ``unmask``, full) name and phone, in id order."""
    member_ids = list(
        session.scalars(
            sa.select(SegmentMember.customer_id)
            .where(SegmentMember.segment_id == segment_id)
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
                "city": c.city,
                "source": c.source,
            }


EXPORT_COLUMNS = ("customer_id", "name", "phone", "city", "source")


def export_members(
    session: Session, principal: Principal, segment_id: int, path: Path, *, unmask: bool = False
) -> int:
    """Write a segment's members to CSV (UTF-8 with BOM, so Excel reads the Chinese); masked
    unless asked and allowed. Every export is audit-logged; returns the rows written."""
    if not principal.can(Perm.customers_export):
        raise PermissionError("exporting customers needs the customers:export permission")
    show = unmask and principal.can(Perm.customers_unmask)
    if unmask and not show:
        raise PermissionError("unmasked export needs the customers:unmask permission")
    written = 0
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csvsafe.DictWriter(fh, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        for row in member_rows(session, segment_id, unmask=show):
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
