"""Reads of the spend table (small; it stays in the system of record)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.metrics.models import AcquisitionSpend


def spend_by_source(session: Session, first_month: str, last_month: str) -> dict[str, int]:
    """Fen spent per source in the months from ``first_month`` to ``last_month`` (YYYY-MM)."""
    rows = session.execute(
        sa.select(AcquisitionSpend.source, sa.func.sum(AcquisitionSpend.amount_fen))
        .where(AcquisitionSpend.month >= first_month, AcquisitionSpend.month <= last_month)
        .group_by(AcquisitionSpend.source)
    )
    return {str(s): int(n or 0) for s, n in rows}


def list_spend(session: Session) -> list[dict[str, Any]]:
    return [
        {"source": r.source, "month": r.month, "amount_fen": r.amount_fen, "note": r.note}
        for r in session.scalars(
            sa.select(AcquisitionSpend).order_by(AcquisitionSpend.month, AcquisitionSpend.source)
        )
    ]
