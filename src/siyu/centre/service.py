"""Signing customers in to the member centre: an SMS code through the send ledger, or WeChat
web authorisation bound to the customer after one SMS sign-in; and the customer sessions that
follow. What limits a visitor is in ``throttle``.

- A code is asked for with a phone number, from a device (a signed first-party cookie the
  sign-in page sets) and a client network; each of the three is counted (``throttle``).
- An unknown number becomes a customer (source ``member_centre``) so the code can go through
  the ledger, which sends only to customers; a number whose person was erased gets no code.
- The code is stored as a keyed hash, lasts ``CODE_MINUTES``, takes ``CODE_TRIES`` guesses and
  is used once (a guarded UPDATE: two tabs submitting it at once sign in once).
- Sessions hold the hash of a random token; the cookie is ``siyu_member`` (never the staff's).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts.throttle import client_network
from siyu.bulk import rows_where_in, session_reads
from siyu.centre.models import CustomerSession, SignInCode
from siyu.centre.throttle import CODE_LIMITS, GUESS_LIMITS, Over, count, daily, spent
from siyu.config import Settings, get_settings
from siyu.customers import identifiers as ids
from siyu.customers.resolution import Resolver
from siyu.db import get_engine
from siyu.loyalty.membership import join, membership
from siyu.privacy.service import ErasureContext, NoSuchPerson, find_person
from siyu.reach.sending.caps import sms_room_at
from siyu.reach.sending.templates import placeholders
from siyu.reach.sending.transactional import send_transactional
from siyu.reactions import Topic, publish
from siyu.refusals import Conflict, Forbidden, Refusal
from siyu.untrusted import same_token

CODE_MINUTES = 10
CODE_TRIES = 5
RECENT_CODES = 3  # the newest codes of a phone that still sign in
SESSION_DAYS = 30
SOURCE = "member_centre"
DEVICE_COOKIE = "siyu_device"
MEMBER_COOKIE = "siyu_member"


if TYPE_CHECKING:
    from siyu.loyalty.models import Programme

log = logging.getLogger("siyu.centre")
_WARNED: set[datetime] = set()  # the days whose SMS budget ran out, said in the log


class SignInRefused(Refusal):
    """A sign-in that cannot go ahead; the words are the customer's (the page shows them)."""


class TooMany(SignInRefused):
    """A limit reached; ``retry_at`` says when to try again."""

    status = 429

    def __init__(self, template: str, /, retry_at: datetime, **params: object) -> None:
        super().__init__(template, **params)
        self.retry_at = retry_at


class NotSetUp(SignInRefused, Conflict):
    """The brand has not set the sign-in SMS up (signature, approved template): a state of the
    set-up, answered 409 in the page's words (not a 5xx: nothing failed)."""


class NotAllowed(SignInRefused, Forbidden):
    """The person may not sign in here (erased at their request, or the account closed)."""


# -- the device cookie -------------------------------------------------------------------------


def _sign(secret: bytes, value: str) -> str:
    return hmac.new(secret, f"device:{value}".encode(), hashlib.sha256).hexdigest()[:20]


def new_device(secret: bytes) -> str:
    """A new device cookie's value: a random id and its signature."""
    value = secrets.token_urlsafe(12)
    return f"{value}.{_sign(secret, value)}"


def device_of(secret: bytes, cookie: str | None) -> str | None:
    """The device id a cookie carries, if Siyu signed it."""
    value, _dot, sig = (cookie or "").partition(".")
    if not value or len(value) > 20 or not same_token(sig, _sign(secret, value)):
        return None
    return value


# -- codes -------------------------------------------------------------------------------------


def mainland_mobile(raw: str) -> str:
    """The number in E.164, if it is a mainland mobile (the only numbers an SMS code reaches)."""
    try:
        phone = ids.phone((raw or "").strip()[:40])
    except ids.Rejected:
        raise SignInRefused("enter your 11-digit mobile number") from None
    if not (phone.startswith("+861") and len(phone) == 14):
        raise SignInRefused("enter your 11-digit mobile number")
    return phone


def _hash(secret: bytes, phone: str, code: str) -> str:
    return hmac.new(secret, f"code:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _too_many(over: Over) -> TooMany:
    if over.limit.name == "phone" and over.limit.seconds == 60:
        return TooMany("a code was just sent; wait a minute", retry_at=over.retry_at)
    return TooMany(
        "too many attempts; try again after {time}",
        retry_at=over.retry_at,
        time=over.retry_at.astimezone(get_settings().tz).strftime("%H:%M"),
    )


@dataclass(frozen=True)
class CodeSent:
    phone: str
    customer_id: int | None  # None: nothing was sent (a number erased at its owner's request)
    expires_at: datetime


def request_code(
    session: Session, settings: Settings, raw_phone: str, address: str, device: str
) -> CodeSent:
    """Send a sign-in code to the phone (queued in the caller's transaction: commit to send).
    Counted before anything is written, so a refused request still counts against the limits."""
    if not (settings.centre_sms_sign_name and settings.centre_sms_template_code):
        raise NotSetUp("signing in by SMS is not open yet; please try again later")
    phone = mainland_mobile(raw_phone)
    now = clock.now()
    values = {"phone": phone, "net": client_network(address), "device": device}
    over = count(get_engine(), CODE_LIMITS, values, now)
    if over is not None:
        raise _too_many(over)
    offset = int((now.astimezone(settings.tz).utcoffset() or timedelta()).total_seconds())
    over = count(get_engine(), daily(settings.centre_sms_daily_most, offset), {"all": "all"}, now)
    if over is not None:  # the team raises SIYU_CENTRE_SMS_DAILY_MOST, or it was a script
        if over.retry_at not in _WARNED:  # once a day in each process, not at every refusal
            _WARNED.add(over.retry_at)
            log.warning("member centre: today's %s sign-in codes are all sent", over.limit.most)
        raise _too_many(over)
    customer_id = _customer_for(session, settings, phone)
    if customer_id is None:  # answered as if sent: the page must not tell who asked for erasure
        return CodeSent(phone, None, now + timedelta(minutes=CODE_MINUTES))
    room = sms_room_at(session, customer_id, now)  # the ledger's own per-number limits
    if room is not None:
        raise TooMany(
            "too many attempts; try again after {time}",
            retry_at=room,
            time=room.astimezone(get_settings().tz).strftime("%H:%M"),
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = SignInCode(
        phone=phone,
        customer_id=customer_id,
        code_hash=_hash(settings.secret_key_bytes(), phone, code),
        device=device,
        created_at=now,
        expires_at=now + timedelta(minutes=CODE_MINUTES),
    )
    session.add(row)
    session.flush()
    names = placeholders(settings.centre_sms_text)
    send_transactional(
        session,
        # the row's id alone could come again after an erasure (SQLite reuses a deleted max id)
        key=f"signin:{row.id}:{secrets.token_hex(8)}",
        customer_id=customer_id,
        channel="sms",
        template={
            "sign_name": settings.centre_sms_sign_name,
            "template_code": settings.centre_sms_template_code,
            "text": settings.centre_sms_text,
            "params": {name: code for name in names[:1]},
            "to": phone,  # the number typed, whichever of the person's numbers is first
            "secret": True,  # the ledger forgets the code once it is sent
        },
        expires_minutes=CODE_MINUTES,
    )
    return CodeSent(phone, customer_id, row.expires_at)


def _customer_for(session: Session, settings: Settings, phone: str) -> int | None:
    """The customer holding the phone, a new one when nobody does; None for a person erased at
    their request (their number is suppressed: Siyu keeps no profile of them, and sends them
    nothing; the page's help says to ask the brand to come back)."""
    resolver = Resolver(session.connection(), SOURCE, settings.secret_key_bytes(), actor=SOURCE)
    key = (ids.Kind.phone.value, "", phone)
    resolver.prefetch([key])
    if resolver.suppressed(key):
        return None
    found = resolver.resolve([key], {"source": SOURCE}, clock.now())
    resolver.flush()
    if found.suppressed:
        return None
    customer_id = resolver.customer_for(found.customer_id)
    try:
        customer = find_person(session, customer_id)
    except NoSuchPerson:
        raise NotAllowed("this account cannot sign in") from None
    if customer.status != "active" or customer.suppressed:
        raise NotAllowed("this account cannot sign in")
    return customer.id


def signed_in_customer(session: Session, customer_id: int) -> int | None:
    """The profile that holds the customer now, if it may sign in (active, not suppressed)."""
    try:
        customer = find_person(session, customer_id)
    except NoSuchPerson:
        return None
    return customer.id if customer.status == "active" and not customer.suppressed else None


def check_code(
    session: Session, settings: Settings, raw_phone: str, code: str, address: str
) -> int:
    """The customer the code signs in, once. A wrong code costs one of the code's tries and
    counts against the phone's and the network's hourly guesses; past them, refused."""
    phone = mainland_mobile(raw_phone)
    now = clock.now()
    values = {"phone": phone, "net": client_network(address)}
    over = spent(get_engine(), GUESS_LIMITS, values, now)
    if over is not None:
        raise _too_many(over)
    typed = (code or "")[:20].strip()
    rows = session.scalars(
        sa.select(SignInCode)
        .where(
            SignInCode.phone == phone,
            SignInCode.used_at.is_(None),
            SignInCode.expires_at > now,
            SignInCode.tries < CODE_TRIES,
        )
        .order_by(SignInCode.id.desc())
        .limit(RECENT_CODES)
    ).all()
    if not rows:  # answered as a wrong code: a number erased (sent nothing) looks the same
        count(get_engine(), GUESS_LIMITS, values, now)
        raise SignInRefused(
            "wrong code, or it has expired; ask for a new one if it is older than 10 minutes"
        )
    # the try is spent before the code is compared, in its own commit: parallel guesses each
    # take one of the newest code's tries, and none is compared once they are gone
    tried = session.execute(
        sa.update(SignInCode)
        .where(SignInCode.id == rows[0].id, SignInCode.tries < CODE_TRIES)
        .values(tries=SignInCode.tries + 1)
    )
    session.commit()
    if not getattr(tried, "rowcount", 0):
        raise SignInRefused(
            "wrong code, or it has expired; ask for a new one if it is older than 10 minutes"
        )
    secret = settings.secret_key_bytes()
    shaped = len(typed) == 6 and typed.isdigit()
    # a code sent a moment before the newest (the customer asked twice) is as good
    row = next(
        (r for r in rows if shaped and same_token(_hash(secret, phone, typed), r.code_hash)), None
    )
    if row is None:
        count(get_engine(), GUESS_LIMITS, values, now)
        raise SignInRefused(
            "wrong code, or it has expired; ask for a new one if it is older than 10 minutes"
        )
    taken = session.execute(
        sa.update(SignInCode)
        .where(SignInCode.id == row.id, SignInCode.used_at.is_(None))
        .values(used_at=now)
    )
    if not getattr(taken, "rowcount", 0):
        raise SignInRefused("the code has expired or was used; ask for a new one")
    customer = find_person(session, row.customer_id)
    if customer.status != "active" or customer.suppressed:
        raise NotAllowed("this account cannot sign in")
    return customer.id


# -- sessions ----------------------------------------------------------------------------------


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, customer_id: int, method: str, device: str) -> str:
    """A new customer session; returns the cookie's token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        CustomerSession(
            token_hash=_sha256(token),
            customer_id=customer_id,
            csrf_token=secrets.token_urlsafe(24),
            method=method,
            device=device[:40],
            created_at=now,
            expires_at=now + timedelta(days=SESSION_DAYS),
        )
    )
    session.flush()
    return token


@dataclass(frozen=True)
class Visitor:
    """A signed-in customer: who, and the token their forms must send back."""

    customer_id: int
    csrf_token: str
    session_id: int


def visitor(session: Session, token: str | None) -> Visitor | None:
    """The customer a session cookie signs in, while the session lasts and the customer is
    active (a merged profile's session follows it to the profile it was merged into)."""
    if not token or len(token) > 100:
        return None
    row = session.scalar(
        sa.select(CustomerSession).where(CustomerSession.token_hash == _sha256(token))
    )
    if row is None or row.expires_at <= clock.now():
        return None
    try:
        customer = find_person(session, row.customer_id)
    except NoSuchPerson:
        return None
    if customer.status != "active" or customer.suppressed:
        return None
    return Visitor(customer.id, row.csrf_token, row.id)


def close_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(
            sa.delete(CustomerSession).where(CustomerSession.token_hash == _sha256(token))
        )


def erase_sign_ins(session: Session, ctx: ErasureContext) -> int:
    """Erasure: the person's sessions and sign-in codes go (they hold the phone number)."""
    family = list(ctx.customer_ids)
    codes = session.execute(sa.delete(SignInCode).where(SignInCode.customer_id.in_(family)))
    return close_all_of(session, family) + int(getattr(codes, "rowcount", 0) or 0)


def close_all_of(session: Session, customer_ids: list[int]) -> int:
    done = session.execute(
        sa.delete(CustomerSession).where(CustomerSession.customer_id.in_(customer_ids))
    )
    return int(getattr(done, "rowcount", 0) or 0)


def export_sign_ins(session: Session, customer_ids: Collection[int]) -> dict[str, list[Any]]:
    """The person's member-centre sign-ins for their data export: when and how, never a token
    or a code's hash."""
    ids = list(customer_ids)
    return {
        "sessions": [
            {
                "method": r.method,
                "created_at": r.created_at.isoformat(),
                "expires_at": r.expires_at.isoformat(),
            }
            for r in session.scalars(
                sa.select(CustomerSession).where(CustomerSession.customer_id.in_(ids))
            )
        ],
        "sign_in_codes": [
            {
                "phone": r.phone,
                "created_at": r.created_at.isoformat(),
                "used_at": r.used_at.isoformat() if r.used_at else None,
            }
            for r in session.scalars(sa.select(SignInCode).where(SignInCode.customer_id.in_(ids)))
        ],
    }


def signed_in_on(session: Session, customer_ids: Collection[int], device: str) -> bool:
    """Whether any of these customers has a member-centre session on this device (a referral
    whose invitee signs up on the referrer's own phone is the referrer)."""
    if not customer_ids or not device:
        return False
    return (
        session.scalar(
            sa.select(CustomerSession.id)
            .where(
                CustomerSession.customer_id.in_(list(customer_ids)),
                CustomerSession.device == device,
            )
            .limit(1)
        )
        is not None
    )


def join_if_new(
    session: Session,
    programme: Programme,
    customer_id: int,
    via: str,
    device: str,
    address: str,
    reader: str = "",
) -> bool:
    """A signed-in customer who is not a member yet joins (the SMS code proved the phone; the
    ticked terms are the evidence), and the other capabilities hear of it (``member.joined``:
    growth credits a referral link with the device and network it came from, and the WeChat
    reader — ``reader_key`` — when the sign-in came from WeChat). True: joined."""
    if membership(session, programme, customer_id) is not None:
        return False
    member = join(session, programme, customer_id, "SMS code to the member's phone", via)
    publish(
        session,
        Topic.member_joined,
        {
            "member": member.id,
            "customer": customer_id,
            "via": via,
            "device": device,
            "address": address[:64],
            "wechat": reader,
        },
    )
    return True


def reader_key(openid: str) -> str:
    """The WeChat half of a device, from ``appid:openid``: a keyed hash (``wx`` and 30 hex
    digits), so what is passed on and kept holds no openid. Clearing the browser's cookies
    inside WeChat does not change it."""
    secret = get_settings().secret_key_bytes()
    return "wx" + hmac.new(secret, f"reader:{openid}".encode(), hashlib.sha256).hexdigest()[:30]


def devices_of(session: Session, customer_ids: Collection[int]) -> dict[int, set[str]]:
    """The devices each of these customers has member-centre sessions on."""
    out: dict[int, set[str]] = {}
    for cid, device in rows_where_in(
        session_reads(session),
        "SELECT customer_id, device FROM centre_session WHERE device != '' AND customer_id IN ({in})",
        (),
        sorted(set(customer_ids)),
    ):
        out.setdefault(int(cid), set()).add(str(device))
    return out
