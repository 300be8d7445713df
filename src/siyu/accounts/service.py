"""Users, logins, API keys and the audit log: the use cases, independent of HTTP or CLI."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from siyu import clock
from siyu.accounts import throttle
from siyu.accounts.models import ApiKey, AuditLog, LoginSession, LoginThrottle, User
from siyu.accounts.permissions import API_KEY_SCOPES, BY_NAME, PERMISSIONS, ROLE_PERMISSIONS, Role
from siyu.brands.models import Store
from siyu.capability import Permission
from siyu.config import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_USERNAME, Settings
from siyu.refusals import Refusal
from siyu.untrusted import same_token

_hasher = PasswordHasher()
# checked when no such user exists, so a refusal takes as long for a name that exists as not
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
API_KEY_PREFIX = "sy_"


class AccountError(Refusal):
    """A user, role or API-key change that cannot be made as asked; the template says why."""


class LoginRefused(AccountError):
    """A refused login; ``code`` (locked, wrong, demo_password) lets the console say it in the
    reader's language."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Principal:
    """Who is acting, for permission checks and the audit log."""

    actor: str
    role: str
    permissions: frozenset[Permission]
    user_id: int | None = None
    store_id: int | None = None
    api_key_id: int | None = None
    wecom_userid: str | None = None  # a guide's own WeCom friends are theirs to serve too

    def can(self, perm: str) -> bool:
        return perm in self.permissions


def record_audit(
    session: Session,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditLog(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            details=details or {},
        )
    )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_policy(password: str, settings: Settings) -> None:
    if len(password) < 10:
        raise AccountError("password must have at least 10 characters")
    if password == DEMO_ADMIN_PASSWORD and not settings.is_demo:
        raise AccountError("the demo password is public; choose another")


def create_user(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    role: str,
    *,
    display_name: str | None = None,
    store_id: int | None = None,
    wecom_userid: str | None = None,
) -> User:
    try:
        Role(role)
    except ValueError:
        raise AccountError(
            "unknown role {role!r}; choose one of {choices}", role=role, choices=", ".join(Role)
        ) from None
    if role == Role.store_guide and store_id is None:
        raise AccountError("a store guide needs a store (--store)")
    _known_store(session, store_id)
    if session.scalar(sa.select(User).where(User.username == username)):
        raise AccountError("user {username!r} already exists", username=username)
    check_password_policy(password, settings)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role,
        store_id=store_id,
        wecom_userid=_userid(wecom_userid),
    )
    session.add(user)
    session.flush()
    return user


def _known_store(session: Session, store_id: int | None) -> None:
    """A store named for a user exists (asked before the insert, whose foreign key would
    otherwise fail it with no word of why)."""
    if store_id is not None and session.get(Store, store_id) is None:
        raise AccountError("no store {id}", id=store_id)


def ensure_demo_admin(session: Session, settings: Settings) -> None:
    """The demo admin exists only in demo mode."""
    if not settings.is_demo:
        return
    if session.scalar(sa.select(User).where(User.username == DEMO_ADMIN_USERNAME)) is None:
        session.add(
            User(
                username=DEMO_ADMIN_USERNAME,
                display_name="演示管理员",
                password_hash=hash_password(DEMO_ADMIN_PASSWORD),
                role=Role.admin,
            )
        )


def refuse_demo_password_outside_demo(session: Session, settings: Settings) -> None:
    """Production refuses to start while any user still has the public demo password."""
    if settings.is_demo:
        return
    for user in session.scalars(sa.select(User).where(User.is_active.is_(True))):
        if _verify(user.password_hash, DEMO_ADMIN_PASSWORD):
            raise AccountError(
                "user {username!r} has the public demo password; change it "
                "(`siyu users passwd`) or run in demo mode",
                username=user.username,
            )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _state(user: User) -> dict[str, Any]:
    """What a user change may alter (compared before and after, and audit-logged)."""
    return {
        "role": user.role,
        "store_id": user.store_id,
        "active": user.is_active,
        "wecom_userid": user.wecom_userid,
    }


def _userid(text: str | None) -> str | None:
    """A WeCom userid as WeCom writes it (1–64 letters, digits, ``_ - . @``); blank: none."""
    value = (text or "").strip()
    if not value:
        return None
    if len(value) > 64 or not all(ch.isalnum() or ch in "_-.@" for ch in value):
        raise AccountError("WeCom userid {value!r}: 1–64 letters, digits, _ - . or @", value=value)
    return value


def principal_for_user(user: User) -> Principal:
    return Principal(
        actor=f"user:{user.username}",
        role=user.role,
        permissions=ROLE_PERMISSIONS.get(Role(user.role), frozenset()),
        user_id=user.id,
        store_id=user.store_id,
        wecom_userid=user.wecom_userid,
    )


def login(
    session: Session, settings: Settings, username: str, password: str, address: str
) -> tuple[str, LoginSession]:
    """Check a password under rate limits; returns the cookie token and the session row.

    The attempt is first reserved against the username and the client's address in the
    database (``LoginThrottle``), committed on a connection of its own, so parallel attempts
    and other server processes count it before any password is checked; a right password gives
    its reservation back, a wrong one keeps it. The refusal is recorded even if the caller rolls
    its own transaction back. Call it before the session writes anything (on SQLite the
    reservation is a write of its own)."""
    now = clock.now()
    keys = throttle.keys_for(username, address)
    bind = session.get_bind()
    engine = bind if isinstance(bind, sa.Engine) else bind.engine
    most = settings.login_max_failures
    if throttle.reserve(engine, keys, now, most) > most:
        throttle.give_back(engine, keys)  # no password was checked: the attempt counts for nothing
        raise LoginRefused("too many failed logins; wait 15 minutes and try again", "locked")
    user = session.scalar(sa.select(User).where(User.username == username))
    known = user is not None and user.is_active
    # an unknown name costs one check too, so timing does not tell who has an account
    right = _verify(user.password_hash if user and known else _DUMMY_HASH, password)
    if user is None or not known or not right:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(AuditLog).values(
                    actor=f"anon:{address}"[:100],
                    action="login.failed",
                    target_type="user",
                    target_id=username[:64],
                    details={},
                    at=now,
                )
            )
        raise LoginRefused("wrong username or password", "wrong")
    throttle.give_back(engine, keys)
    if password == DEMO_ADMIN_PASSWORD and not settings.is_demo:
        raise LoginRefused("the demo password is refused outside demo mode", "demo_password")
    token = secrets.token_urlsafe(32)
    row = LoginSession(
        token_hash=_sha256(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=now + timedelta(hours=settings.session_hours),
    )
    user.last_login_at = now
    session.add(row)
    record_audit(session, f"user:{user.username}", "login", "user", str(user.id))
    return token, row


def session_user(session: Session, token: str | None) -> tuple[User, LoginSession] | None:
    if not token:
        return None
    row = session.scalar(sa.select(LoginSession).where(LoginSession.token_hash == _sha256(token)))
    if row is None or row.expires_at <= clock.now():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return user, row


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(sa.delete(LoginSession).where(LoginSession.token_hash == _sha256(token)))


def create_api_key(session: Session, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Returns the row and the key itself, which is shown once and stored only as a hash."""
    bad = [s for s in scopes if s not in API_KEY_SCOPES]
    if bad or not scopes:
        allowed = ", ".join(sorted(API_KEY_SCOPES))
        raise AccountError(
            "invalid scope(s) {bad}; allowed: {allowed}", bad=bad or scopes, allowed=allowed
        )
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=prefix, key_hash=_sha256(secret), scopes=sorted(set(scopes)))
    session.add(key)
    session.flush()
    return key, f"{API_KEY_PREFIX}{prefix}_{secret}"


def principal_for_api_key(session: Session, presented: str) -> Principal | None:
    if not presented.startswith(API_KEY_PREFIX):
        return None
    prefix, _, secret = presented[len(API_KEY_PREFIX) :].partition("_")
    key = session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None:
        return None
    if not same_token(key.key_hash, _sha256(secret)):
        return None
    return Principal(
        actor=f"apikey:{key.name}",
        role="api_key",
        permissions=frozenset(BY_NAME[s] for s in key.scopes if s in BY_NAME),
        api_key_id=key.id,
    )


def revoke_api_key(session: Session, prefix: str) -> None:
    key = session.scalar(sa.select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None:
        raise AccountError("no API key with prefix {prefix!r}", prefix=prefix)
    key.revoked_at = clock.now()


def cli_principal(session: Session, actor: str, username: str | None) -> Principal:
    """The CLI acts with full rights as the machine's operator, or as a named user."""
    if username is None:
        return Principal(actor=actor, role=Role.admin, permissions=frozenset(PERMISSIONS))
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.is_active:
        raise AccountError("no active user {username!r}", username=username)
    return principal_for_user(user)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def set_password(
    session: Session, settings: Settings, user: User, password: str, actor: str
) -> None:
    """A new password under the policy; audit-logged. It ends the user's open console sessions:
    a password is changed because the old one may be known, and a session someone took with it
    must not outlive the change."""
    check_password_policy(password, settings)
    user.password_hash = hash_password(password)
    session.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id))
    record_audit(session, actor, "user.passwd", "user", str(user.id))


def purge_expired(session: Session, now: datetime | None = None) -> int:
    now = now or clock.now()
    result = session.execute(sa.delete(LoginSession).where(LoginSession.expires_at <= now))
    session.execute(
        sa.delete(LoginThrottle).where(LoginThrottle.window_start <= now - throttle.LOCKOUT * 4)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def update_user(
    session: Session,
    user_id: int,
    *,
    actor: str,
    role: str | None = None,
    store_id: int | None = None,
    active: bool | None = None,
    wecom_userid: str | None = None,
) -> User:
    """Change someone's role, store or whether they may log in; audit-logged. A change ends
    their open console sessions, so it holds from their next click. The last active admin
    cannot be demoted or switched off (nobody could manage users any more)."""
    user = session.get(User, user_id)
    if user is None:
        raise AccountError("no user {id}", id=user_id)
    new_role = user.role if role is None else role
    try:
        Role(new_role)
    except ValueError:
        raise AccountError(
            "unknown role {role!r}; choose one of {choices}", role=new_role, choices=", ".join(Role)
        ) from None
    new_store = user.store_id if store_id is None else store_id
    if new_role == Role.store_guide and new_store is None:
        raise AccountError("a store guide needs a store")
    _known_store(session, store_id)
    new_active = user.is_active if active is None else active
    losing_admin = (
        user.role == Role.admin and user.is_active and (new_role != Role.admin or not new_active)
    )
    if losing_admin:
        admins = session.scalar(
            sa.select(sa.func.count())
            .select_from(User)
            .where(User.role == Role.admin.value, User.is_active.is_(True))
        )
        if (admins or 0) <= 1:
            raise AccountError("the last active administrator cannot lose that role")
    before = _state(user)
    user.role, user.is_active = new_role, new_active
    user.store_id = new_store if new_role == Role.store_guide else None
    if wecom_userid is not None:  # "" clears it
        user.wecom_userid = _userid(wecom_userid)
    after = _state(user)
    if after != before:
        session.execute(sa.delete(LoginSession).where(LoginSession.user_id == user.id))
        record_audit(
            session, actor, "user.update", "user", str(user.id), {"before": before, "after": after}
        )
    session.flush()
    return user


def forget_audit_details(session: Session, target_type: str, target_ids: Collection[str]) -> None:
    """Audit entries about these targets keep the fact (who did what to whom, when) but lose
    their details: what a PIPL erasure leaves of a person in the audit log."""
    session.execute(
        sa.update(AuditLog)
        .where(AuditLog.target_type == target_type, AuditLog.target_id.in_(list(target_ids)))
        .values(details={})
    )
