"""Erasure (PIPL) reaches WeCom's tables too: friendships with their nicknames and remarks,
group memberships and the callbacks that named the person."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.db import rowcount
from siyu.privacy.service import ErasureContext
from siyu.wecom.callbacks.models import WecomCallback
from siyu.wecom.contacts.models import WecomContact, WecomGroupMember


def erase_wecom(session: Session, ctx: ErasureContext) -> int:
    externals = [value for kind, _ns, value in ctx.identities if kind == "external_userid"]
    externals += list(
        session.scalars(
            sa.select(WecomContact.external_userid).where(
                WecomContact.customer_id.in_(ctx.customer_ids)
            )
        )
    )
    n = rowcount(
        session.execute(
            sa.delete(WecomContact).where(
                sa.or_(
                    WecomContact.customer_id.in_(ctx.customer_ids),
                    WecomContact.external_userid.in_(externals),
                )
            )
        )
    )
    n += rowcount(
        session.execute(
            sa.delete(WecomGroupMember).where(
                sa.or_(
                    WecomGroupMember.customer_id.in_(ctx.customer_ids),
                    WecomGroupMember.member_id.in_(externals),
                )
            )
        )
    )
    named: list[sa.ColumnElement[bool]] = [WecomCallback.customer_id.in_(ctx.customer_ids)]
    named += [sa.cast(WecomCallback.payload, sa.Text).contains(e) for e in set(externals)]
    n += rowcount(session.execute(sa.delete(WecomCallback).where(sa.or_(*named))))
    return n
