"""PIPL erasure in the send ledger (the erasure calls it inside its transaction). A ledger row
holds ids, states and times, nothing personal, and stays for the campaign's counts; only a
transactional message's template (a notice's text may name the person or their order) goes."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.db import rowcount
from siyu.privacy.service import ErasureContext
from siyu.reach.models import SendRow


def erase_messages(session: Session, ctx: ErasureContext) -> int:
    """Erasure: the texts of the person's transactional messages are removed."""
    return rowcount(
        session.execute(
            sa.update(SendRow)
            .where(SendRow.customer_id.in_(ctx.customer_ids), SendRow.message.is_not(None))
            .values(message=sa.null())
            .execution_options(synchronize_session=False)
        )
    )
