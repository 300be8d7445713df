"""Erasure (PIPL) reaches the official account's tables: the person's follower rows and the
pushes that named their openid."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu.db import rowcount
from siyu.oa.models import OaCallback, OaFollower
from siyu.privacy.service import ErasureContext


def erase_oa(session: Session, ctx: ErasureContext) -> int:
    openids = [(ns, value) for kind, ns, value in ctx.identities if kind == "openid"]
    n = 0
    for appid, openid in openids:
        n += rowcount(
            session.execute(
                sa.delete(OaFollower).where(OaFollower.appid == appid, OaFollower.openid == openid)
            )
        )
        n += rowcount(
            session.execute(
                sa.delete(OaCallback).where(OaCallback.appid == appid, OaCallback.openid == openid)
            )
        )
    return n
