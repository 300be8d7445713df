"""A keyword reply's benefit: a code loaded into a pool, or one a capability issues when it is
claimed (a programme's coupon: ``issued_by = "loyalty:<template id>"``). Either way the pool
remembers who got which code (``BenefitCode.holder``, unique per pool), so asking again
answers the same code and two workers answering one customer at once give one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import record_audit
from siyu.wecom.replies.models import BenefitCode, BenefitPool
from siyu.wecom.replies.service import KeywordError, claim_code

ISSUED_BY = 60


@dataclass(frozen=True)
class Issued:
    """What a claim gave: a code, or none with what to say instead (``exhausted``: the pool or
    the coupon ran out, which the team is alerted to; else the customer cannot have it yet,
    e.g. not a member, and ``text`` says how to become one)."""

    code: str | None
    text: str = ""
    exhausted: bool = False


Issuer = Callable[[Session, str, "int | None"], Issued]  # (session, ref, customer id)


def claim_benefit(
    session: Session, pool: BenefitPool, holder: str, customer_id: int | None
) -> Issued:
    """The holder's benefit from ``pool``: the code they got before, else a new one."""
    if not pool.issued_by:
        code = claim_code(session, pool.id, holder, customer_id)
        return Issued(code) if code else Issued(None, pool.exhausted_text, exhausted=True)
    have = _held(session, pool.id, holder)
    if have:
        return Issued(have)
    got = _issuer(pool.issued_by)(session, pool.issued_by.partition(":")[2], customer_id)
    if got.code is None:
        return Issued(None, got.text or pool.exhausted_text, exhausted=got.exhausted)
    try:
        with session.begin_nested():
            session.add(
                BenefitCode(
                    pool_id=pool.id,
                    code=got.code[:64],
                    holder=holder,
                    customer_id=customer_id,
                    claimed_at=clock.now(),
                )
            )
    except IntegrityError:  # the same holder claimed meanwhile: theirs stands
        return Issued(_held(session, pool.id, holder) or got.code)
    return got


def _held(session: Session, pool_id: int, holder: str) -> str | None:
    return session.scalar(
        sa.select(BenefitCode.code).where(
            BenefitCode.pool_id == pool_id, BenefitCode.holder == holder
        )
    )


def _issuer(issued_by: str) -> Issuer:
    from siyu.capabilities import provided  # the manifests name the issuers

    name = issued_by.partition(":")[0]
    for cap, issuer in provided("benefit_issuers"):
        if cap.name == name:
            return issuer
    raise KeywordError("no capability {name!r} issues benefits", name=name)


def issuing_pool(
    session: Session,
    corp_pk: int,
    name: str,
    issued_by: str,
    *,
    exhausted_text: str | None = None,
    actor: str,
) -> BenefitPool:
    """Create (or point again) the pool ``name`` whose codes ``issued_by`` issues when claimed;
    a pool that holds loaded codes stays as it is."""
    name = name.strip()
    if not name or len(name) > 100:
        raise KeywordError("pool: 1–100 characters")
    if not 0 < len(issued_by) <= ISSUED_BY or ":" not in issued_by:
        raise KeywordError("issued by: <capability>:<reference>")
    pool = session.scalar(
        sa.select(BenefitPool).where(BenefitPool.corp_id == corp_pk, BenefitPool.name == name)
    )
    if pool is None:
        pool = BenefitPool(corp_id=corp_pk, name=name)
        session.add(pool)
    elif not pool.issued_by and session.scalar(
        sa.select(sa.func.count()).where(BenefitCode.pool_id == pool.id)
    ):
        raise KeywordError("pool {name!r} holds loaded codes; name another pool", name=name[:100])
    pool.issued_by = issued_by
    if exhausted_text is not None:
        if not exhausted_text.strip() or len(exhausted_text) > 500:
            raise KeywordError("exhausted text: 1–500 characters")
        pool.exhausted_text = exhausted_text
    session.flush()
    record_audit(
        session, actor, "wecom.benefit.issuing", "benefit_pool", str(pool.id), {"by": issued_by}
    )
    return pool
