"""Referral's rules: a programme's referral settings, members' codes and the visits to their
links. Arrivals are attributed to a referrer in ``growth.attribution``."""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.service import record_audit
from siyu.bulk import collector_paused, rows_where_in, session_reads
from siyu.centre.throttle import Limit, count
from siyu.db import get_engine
from siyu.growth.models import (
    Referral,
    ReferralCode,
    ReferralProgramme,
    ReferralStatus,
    ReferralVisit,
)
from siyu.loyalty.coupons.queries import template_id_of
from siyu.loyalty.queries import MemberView, member_views, programme_named
from siyu.privacy.service import ErasureContext
from siyu.refusals import Conflict, NotFound, Refusal

log = logging.getLogger("siyu.growth")

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud at a till
CODE_LENGTH = 8
CODE = re.compile(rf"[{ALPHABET}]{{{CODE_LENGTH}}}")
STATE_PREFIX = "r_"  # a WeCom contact way's state naming a code: r_<code> (≤ 30 characters)
VISIT_AGAIN = timedelta(hours=24)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # one device's visits to one link count once a day
LIMITS: dict[str, tuple[int, int]] = {
    "referrer_points": (0, 1_000_000),
    "invitee_points": (0, 1_000_000),
    "min_order_fen": (0, 100_000_000),
    "refund_days": (1, 365),  # a reward is never paid before the order can be refunded
    "arrival_days": (1, 365),
    "cap_day": (0, 10_000),
    "cap_month": (0, 100_000),
    "device_most": (1, 1_000),
    "device_days": (1, 365),
    "network_most": (1, 10_000),
    "network_hours": (1, 24 * 30),
    "burst_most": (1, 10_000),
    "burst_minutes": (1, 24 * 60),
    "delete_days": (0, 60),
}


class ReferralRefused(Refusal):
    """A referral setting or decision that cannot be made as asked."""


class NoSuchCode(ReferralRefused, NotFound):
    """A referral code nobody has (or whose member left or was erased: answered alike)."""


class NotForReview(ReferralRefused, Conflict):
    """A decision on a referral that is not waiting for one."""


def normal_code(text: str) -> str:
    """A code as typed or scanned: upper case, no spaces; anything that cannot be one is
    refused before it reaches the database."""
    code = (text or "").strip().upper()[: CODE_LENGTH + 1]
    if not CODE.fullmatch(code):
        raise NoSuchCode("no referral code {code}", code=code[:CODE_LENGTH])
    return code


# -- the programme's referral settings -------------------------------------------------------------
def settings_of(session: Session, programme_id: int) -> ReferralProgramme | None:
    return session.scalar(
        sa.select(ReferralProgramme).where(ReferralProgramme.programme_id == programme_id)
    )


class NoSuchProgramme(ReferralRefused, NotFound):
    """A loyalty programme code nobody has."""


def set_rules(
    session: Session,
    programme_code: str,
    actor: str,
    *,
    referrer_coupon: str | None = None,
    invitee_coupon: str | None = None,
    store_networks: list[str] | None = None,
    active: bool | None = None,
    **numbers: int,
) -> ReferralProgramme:
    """Create or change a programme's referral settings. Coupons are named by their code and
    must be the programme's own; every number is checked against its range. Rewards are only
    ever for the invitee's paid order: there is nothing here a share or a scan could earn."""
    programme = programme_named(session, programme_code)
    if programme is None:
        raise NoSuchProgramme("no loyalty programme {code}", code=programme_code[:40])
    unknown = set(numbers) - set(LIMITS)
    if unknown:
        raise ReferralRefused("unknown referral setting {name}", name=sorted(unknown)[0])
    for name, value in numbers.items():
        low, high = LIMITS[name]
        if not isinstance(value, int) or not low <= value <= high:
            raise ReferralRefused(
                "{name} must be a whole number from {low} to {high}", name=name, low=low, high=high
            )
    rules = settings_of(session, programme.id)
    if rules is None:
        rules = ReferralProgramme(programme_id=programme.id, store_networks=[])
        session.add(rules)
        for name, (low, _high) in LIMITS.items():
            column = ReferralProgramme.__table__.c[name]
            setattr(rules, name, column.default.arg if column.default is not None else low)
    for name, value in numbers.items():
        setattr(rules, name, value)
    for side, code in (("referrer", referrer_coupon), ("invitee", invitee_coupon)):
        if code is not None:
            setattr(
                rules, f"{side}_coupon_id", _template(session, programme.id, code, programme_code)
            )
    if store_networks is not None:
        rules.store_networks = store_networks
    if active is not None:
        rules.active = active
    rules.updated_at = clock.now()
    session.flush()
    record_audit(
        session,
        actor,
        "referral.rules",
        "loyalty_programme",
        str(programme.id),
        {**numbers, "active": rules.active, "coupons": [referrer_coupon, invitee_coupon]},
    )
    return rules


def set_poster_art(session: Session, programme_code: str, art: bytes | None, actor: str) -> None:
    """The programme's poster art (already re-encoded by ``poster.clean_art``), or none."""
    programme = programme_named(session, programme_code)
    rules = settings_of(session, programme.id) if programme else None
    if programme is None or rules is None:
        raise NoSuchProgramme("no referral settings for programme {code}", code=programme_code[:40])
    rules.poster_art = art
    rules.updated_at = clock.now()
    record_audit(
        session,
        actor,
        "referral.poster_art",
        "loyalty_programme",
        str(programme.id),
        {"bytes": len(art or b"")},
    )


def _template(session: Session, programme_id: int, code: str, programme: str) -> int | None:
    if code == "":
        return None
    found = template_id_of(session, programme_id, code)
    if found is None:
        raise ReferralRefused(
            "programme {programme} has no coupon {code}", programme=programme[:40], code=code[:40]
        )
    return found


def network_list(text: str) -> list[str]:
    """Store networks typed by an operator (commas, spaces or new lines), each checked."""
    out: list[str] = []
    for part in text.replace(",", " ").replace("，", " ").split():
        try:
            net = ipaddress.ip_network(part, strict=False)
        except ValueError as exc:
            raise ReferralRefused(
                "{value} is not an IP address or network", value=part[:60]
            ) from exc
        if net.prefixlen < (16 if net.version == 4 else 32):  # 0.0.0.0/0 would end the rule
            raise ReferralRefused(
                "{value} is wider than a store's network (at most /16, or /32 for IPv6)",
                value=part[:60],
            )
        out.append(str(net))
    if len(out) > 200:
        raise ReferralRefused("at most {most} store networks", most=200)
    return out


def network_key(address: str) -> str:
    """A client address as the network rule counts it: IPv4 as it is (an IPv4-mapped IPv6 one
    unmapped), IPv6 by its /64 (privacy addresses rotate inside one); anything else as given."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return (address or "")[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# -- codes and visits ----------------------------------------------------------------------------
def code_for(session: Session, member: MemberView) -> ReferralCode:
    """The member's referral code, made the first time it is asked for."""
    found = session.scalar(
        sa.select(ReferralCode).where(
            ReferralCode.programme_id == member.programme_id, ReferralCode.member_id == member.id
        )
    )
    if found is not None:
        return found
    for _try in range(5):
        try:
            with session.begin_nested():
                made = ReferralCode(
                    code="".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)),
                    programme_id=member.programme_id,
                    member_id=member.id,
                    customer_id=member.customer_id,
                    created_at=clock.now(),
                )
                session.add(made)
                session.flush()
            return made
        except sa.exc.IntegrityError:  # the same code drawn twice, or made at once elsewhere
            found = session.scalar(
                sa.select(ReferralCode).where(
                    ReferralCode.programme_id == member.programme_id,
                    ReferralCode.member_id == member.id,
                )
            )
            if found is not None:
                return found
    raise ReferralRefused("no referral code could be made; try again")


@dataclass(frozen=True, slots=True)
class CodeView:
    """A referral code as an arrival or the link's page reads it (``ReferralCode``'s columns;
    the code itself is changed through the table)."""

    id: int
    code: str
    programme_id: int
    member_id: int
    way_corp_id: int | None


@dataclass(frozen=True, slots=True)
class Referrer:
    """Whose code it is, as a link's landing page may show it."""

    code: CodeView
    member: MemberView
    rules: ReferralProgramme


def find_code(session: Session, text: str) -> Referrer:
    """The active code ``text`` names, its member and programme: an unknown code, an erased
    or departed member, a programme without referral all answer "no such code"."""
    code = normal_code(text)
    found = find_codes(session, [code]).get(code)
    if found is None:
        raise NoSuchCode("no referral code {code}", code=code)
    return found


def find_codes(session: Session, texts: Sequence[str]) -> dict[str, Referrer]:
    """``find_code`` for many codes at once (a backlog of arrivals): the active ones found, by
    their normal form; the others are left out."""
    with collector_paused(collect=False):  # thousands of short-lived rows and objects
        return _find_codes(session, texts)


def _find_codes(session: Session, texts: Sequence[str]) -> dict[str, Referrer]:
    codes = set()
    for text in texts:
        try:
            codes.add(normal_code(text))
        except NoSuchCode:
            continue
    found = [
        CodeView(int(cid), str(code), int(programme), int(member), corp)
        for cid, code, programme, member, corp in rows_where_in(
            session_reads(session),
            "SELECT id, code, programme_id, member_id, way_corp_id FROM referral_code"
            " WHERE code IN ({in})",
            (),
            sorted(codes),
        )
    ]
    programmes = {code.programme_id for code in found}  # a few: read once, not with each code
    rules_of = {
        rules.programme_id: rules
        for rules in session.scalars(
            sa.select(ReferralProgramme).where(ReferralProgramme.programme_id.in_(programmes))
        )
    }
    members = member_views(session, [code.member_id for code in found])
    out: dict[str, Referrer] = {}
    for code in found:
        member, rules = members.get(code.member_id), rules_of.get(code.programme_id)
        if member is not None and member.active and rules is not None and rules.active:
            out[code.code] = Referrer(code, member, rules)
    return out


# Visits counted per client network and device: a store's Wi-Fi on a busy day opens links a
# few hundred times an hour; a script reloading one link stops counting (the K-factor's visits
# and the visit table stay honest), while the page itself is still shown.
VISIT_LIMITS = (Limit("visit", "net", 3600, 300), Limit("visit", "device", 3600, 30))


def visit_counts(address: str, device: str) -> bool:
    """Whether this open of a link is counted as a visit (within the limits); counted in a
    transaction of its own, so call it with no write of the request's open."""
    over = count(
        get_engine(), VISIT_LIMITS, {"net": network_key(address), "device": device}, clock.now()
    )
    return over is None


def record_visit(session: Session, referrer: Referrer, device: str, address: str) -> ReferralVisit:
    """Someone opened the link. One device counts once a day per link (a refresh, a flood of
    reloads do not inflate the K-factor's visits): its visit of today is given back."""
    now = clock.now()
    if device:
        again = session.scalar(
            sa.select(ReferralVisit)
            .where(
                ReferralVisit.code_id == referrer.code.id,
                ReferralVisit.device == device,
                ReferralVisit.at > now - VISIT_AGAIN,
            )
            .order_by(ReferralVisit.id.desc())
            .limit(1)
        )
        if again is not None:
            return again
    visit = ReferralVisit(code_id=referrer.code.id, at=now, device=device, address=address[:64])
    session.add(visit)
    session.execute(
        sa.update(ReferralCode).where(ReferralCode.id == referrer.code.id).values(used_at=now)
    )
    session.flush()
    return visit


# -- arrivals ------------------------------------------------------------------------------------
# -- an operator's decision --------------------------------------------------------------------
def decide(session: Session, referral_id: int, approve: bool, actor: str) -> Referral:
    """Approve a referral held for review (it counts, and its rewards are paid when due) or
    void it (its rewards are voided with the reason ``operator``)."""
    from siyu.growth.rewards import void_rewards

    found = session.get(Referral, referral_id, with_for_update=True)
    if found is None:
        raise NoSuchReferral("no referral {id}", id=referral_id)
    if found.status != ReferralStatus.review:
        raise NotForReview(
            "referral {id} is {status}, not waiting for review", id=referral_id, status=found.status
        )
    found.status = ReferralStatus.attributed if approve else ReferralStatus.void
    if not approve:
        found.reasons = [*found.reasons, "operator"]
        void_rewards(session, [found.id], "operator")
    found.decided_by, found.decided_at = actor[:100], clock.now()
    record_audit(
        session,
        actor,
        "referral.approve" if approve else "referral.void",
        "referral",
        str(found.id),
        {"reasons": found.reasons},
    )
    return found


class NoSuchReferral(ReferralRefused, NotFound):
    """A referral id that is not there."""


# -- erasure ---------------------------------------------------------------------------------------
def erase_referrals(session: Session, ctx: ErasureContext) -> int:
    """Erasure: the person's code and its visits go (a link of theirs answers "no such code"),
    their posters are deleted from the disk, their WeCom contact way is left for the next
    sweep to delete at WeCom (marked unused since long ago; WeCom is never called inside the
    erasure's transaction); a referral they were invited by keeps its figures without them
    (no customer, no device, no address, no visit); its pending rewards are voided — the
    order that would earn them goes with the person and can no longer be checked."""
    from siyu.growth.rewards import void_rewards

    family = list(ctx.customer_ids)
    codes = session.scalars(
        sa.select(ReferralCode.id).where(ReferralCode.customer_id.in_(family))
    ).all()
    gone = 0
    if codes:
        session.execute(
            sa.update(Referral)
            .where(Referral.code_id.in_(codes))
            .values(device="", address="", wechat="")
            .execution_options(synchronize_session=False)
        )
        gone += _count_of(
            session.execute(sa.delete(ReferralVisit).where(ReferralVisit.code_id.in_(codes)))
        )
        session.execute(
            sa.update(ReferralCode)
            .where(ReferralCode.id.in_(codes))
            .values(
                customer_id=None,
                code=sa.literal("-", sa.String) + sa.cast(ReferralCode.id, sa.String),
                used_at=LONG_AGO,  # the contact way sweep deletes it at WeCom
                way_qr_png=None,
            )
            .execution_options(synchronize_session=False)
        )
        folder = Path(ctx.settings.data_dir) / "posters"
        for code_id in codes:
            for path in folder.glob(f"{int(code_id)}-*.png"):
                path.unlink(missing_ok=True)
    invited = session.scalars(sa.select(Referral.id).where(Referral.invitee_id.in_(family))).all()
    if invited:
        void_rewards(session, list(invited), "erased")
        visits = [
            v
            for v in session.scalars(
                sa.select(Referral.visit_id).where(
                    Referral.id.in_(invited), Referral.visit_id.is_not(None)
                )
            )
            if v is not None
        ]
        if visits:
            gone += _count_of(
                session.execute(sa.delete(ReferralVisit).where(ReferralVisit.id.in_(visits)))
            )
        gone += _count_of(
            session.execute(
                sa.update(Referral)
                .where(Referral.id.in_(invited))
                .values(invitee_id=None, device="", address="", wechat="", visit_id=None)
                .execution_options(synchronize_session=False)
            )
        )
    return gone + len(codes)


def _count_of(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
