"""PIPL erasure of segment memberships (the erasure calls it inside its transaction)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.privacy.service import ErasureContext
from siyu.segments.models import SegmentMember


def erase_memberships(session: Session, ctx: ErasureContext) -> int:
    """Erasure: the person leaves every segment (size history keeps only counts)."""
    res = session.execute(
        sa.delete(SegmentMember).where(SegmentMember.customer_id.in_(ctx.customer_ids))
    )
    return int(getattr(res, "rowcount", 0) or 0)
