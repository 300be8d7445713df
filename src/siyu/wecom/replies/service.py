"""Keyword auto-replies (关键词回复): the rules operators write, how a customer's message is
matched against them, and the benefit-code pools a rule may hand out (one code per customer).

Matching kinds:

- ``exact``: the whole message, ignoring case and surrounding spaces;
- ``contains``: the pattern anywhere in the message;
- ``regex``: a regular expression in Python's syntax, searched with a time limit
  (``keyword_patterns``: a search that runs out of time is no match);
- ``words``: jieba word segmentation of the message holds one of the rule's words (separated
  by spaces, commas or ``|``), so "券" does not fire on every message that mentions "优惠券"
  unless the operator asks for it.

Rules are tried by priority (lower first), then by id; the first that matches answers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu import clock, runtime
from siyu.accounts.service import record_audit
from siyu.db import is_sqlite
from siyu.refusals import NotFound, Refusal
from siyu.sandbox import TemplateRefused
from siyu.tags.service import TagError, find_tag
from siyu.untrusted import KEYWORD_PRIORITY_MAX
from siyu.wecom.live_codes.welcome import compiled, render
from siyu.wecom.replies import patterns as keyword_patterns
from siyu.wecom.replies.models import BenefitCode, BenefitPool, KeywordRule

MATCH_KINDS = ("exact", "contains", "regex", "words")
CHANNELS = ("kf", "app")
MAX_PATTERN = 200
MAX_REPLY = 2000  # kf/send_msg and message/send take at most 2048 bytes of text
MAX_CODE = 64
MAX_MESSAGE = 2000  # longer customer messages are matched on their first 2,000 characters
REPLY_VARIABLES = ("nickname", "code")
_WORD_SPLIT = re.compile(r"[\s,，、|]+")
log = logging.getLogger(__name__)


class KeywordError(Refusal):
    """A rule or pool that cannot be used; the message says which field and why."""


class NoSuchKeywordRule(KeywordError, NotFound):
    """No keyword rule has the id."""


# -- matching -------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _jieba() -> object:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


runtime.forgets("wecom.keywords.jieba", _jieba.cache_clear)


def words_of(text: str) -> set[str]:
    """The words jieba finds in ``text`` (search mode: long words and the words inside them)."""
    jb = _jieba()
    return {w.strip().casefold() for w in jb.lcut_for_search(text) if w.strip()}  # type: ignore[attr-defined]


def rule_words(pattern: str) -> list[str]:
    return [w.casefold() for w in _WORD_SPLIT.split(pattern) if w]


def matches(rule: KeywordRule, text: str, words: set[str] | None = None) -> bool:
    text = text[:MAX_MESSAGE]
    if rule.match == "exact":
        return text.strip().casefold() == rule.pattern.strip().casefold()
    if rule.match == "contains":
        return rule.pattern.casefold() in text.casefold()
    if rule.match == "regex":
        return _search(rule, text)
    if rule.match == "words":
        have = words if words is not None else words_of(text)
        return any(w in have for w in rule_words(rule.pattern))
    return False


def _search(rule: KeywordRule, text: str) -> bool:
    """A regex rule on a message: one that takes too long (or was stored before patterns were
    checked and fails the checks now) answers nothing rather than hold up the worker."""
    try:
        return keyword_patterns.search(rule.pattern, text)
    except TimeoutError:
        log.warning("keyword rule %s: regex search timed out; taken as no match", rule.id)
    except keyword_patterns.PatternRefused as exc:
        log.warning("keyword rule %s: regex not usable (%s); taken as no match", rule.id, exc)
    return False


def first_match(rules: Iterable[KeywordRule], text: str) -> KeywordRule | None:
    words: set[str] | None = None
    for rule in rules:
        if rule.match == "words" and words is None:
            words = words_of(text[:MAX_MESSAGE])
        if matches(rule, text, words):
            return rule
    return None


def active_rules(session: Session, corp_pk: int, channel: str) -> list[KeywordRule]:
    rules = session.scalars(
        sa.select(KeywordRule)
        .where(KeywordRule.corp_id == corp_pk, KeywordRule.active.is_(True))
        .order_by(KeywordRule.priority, KeywordRule.id)
    )
    return [r for r in rules if channel in (r.channels or CHANNELS)]


def compose(rule: KeywordRule, code: str | None, nickname: str | None) -> str:
    """The reply: the rule's text with {{ nickname }} and {{ code }}; a code the rendered text
    does not show is put on a line of its own after it. Raises TemplateRefused when the text
    cannot be rendered (nothing is sent then)."""
    values = {"nickname": nickname, "code": code}
    text = render(rule.reply_text or "", values, REPLY_VARIABLES, MAX_REPLY)
    if code and code not in text:  # the customer must see their code, whatever the template
        text = f"{text}\n{code}" if text.strip() else code
    return text[:MAX_REPLY]


# -- rules ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleSpec:
    name: str
    match: str
    pattern: str
    reply_text: str = ""
    pool: str | None = None
    tag_paths: tuple[str, ...] = ()
    channels: tuple[str, ...] = CHANNELS
    priority: int = 100  # 0–KEYWORD_PRIORITY_MAX, lower first


def add_rule(session: Session, corp_pk: int, spec: RuleSpec, *, actor: str) -> KeywordRule:
    """Check everything, then store the rule."""
    if not spec.name.strip() or len(spec.name) > 100:
        raise KeywordError("name: 1–100 characters")
    if spec.match not in MATCH_KINDS:
        raise KeywordError("match: one of {choices}", choices=", ".join(MATCH_KINDS))
    if not spec.pattern.strip() or len(spec.pattern) > MAX_PATTERN:
        raise KeywordError("pattern: 1–{n} characters", n=MAX_PATTERN)
    if spec.match == "regex":
        try:
            keyword_patterns.check(spec.pattern)
        except keyword_patterns.PatternRefused as exc:
            raise KeywordError("pattern: {reason}", reason=exc) from None
    if spec.match == "words" and not rule_words(spec.pattern):
        raise KeywordError("pattern: give at least one word")
    if not 0 <= spec.priority <= KEYWORD_PRIORITY_MAX:
        raise KeywordError("priority: 0–{n}", n=KEYWORD_PRIORITY_MAX)
    if len(spec.reply_text) > MAX_REPLY:
        raise KeywordError("reply: at most {n} characters", n=MAX_REPLY)
    try:
        compiled(spec.reply_text, REPLY_VARIABLES, MAX_REPLY)
    except TemplateRefused as exc:
        if exc.line:
            raise KeywordError("reply line {line}: {reason}", line=exc.line, reason=exc) from None
        raise KeywordError("reply: {reason}", reason=exc) from None
    bad = [c for c in spec.channels if c not in CHANNELS]
    if bad or not spec.channels:
        raise KeywordError(
            "channel: kf (微信客服) and/or app (自建应用), not {bad}", bad=bad or "none"
        )
    pool_id = None
    if spec.pool:
        pool_id = session.scalar(
            sa.select(BenefitPool.id).where(
                BenefitPool.corp_id == corp_pk, BenefitPool.name == spec.pool
            )
        )
        if pool_id is None:
            raise KeywordError(
                "pool: no benefit pool {pool!r} (siyu wecom benefit load)", pool=spec.pool
            )
    if not spec.reply_text.strip() and pool_id is None:
        raise KeywordError("a rule needs a reply text or a benefit pool")
    try:
        tag_ids = [find_tag(session, p).id for p in spec.tag_paths]
    except TagError as exc:
        raise KeywordError("tag: {reason}", reason=exc) from None
    rule = KeywordRule(
        corp_id=corp_pk,
        name=spec.name.strip(),
        match=spec.match,
        pattern=spec.pattern,
        reply_text=spec.reply_text,
        benefit_pool_id=pool_id,
        tag_ids=tag_ids,
        channels=list(dict.fromkeys(spec.channels)),
        priority=spec.priority,
        active=True,
    )
    session.add(rule)
    session.flush()
    record_audit(session, actor, "wecom.keyword.add", "keyword_rule", str(rule.id), {})
    return rule


def set_active(session: Session, rule_id: int, active: bool, *, actor: str) -> KeywordRule:
    rule = session.get(KeywordRule, rule_id)
    if rule is None:
        raise NoSuchKeywordRule("no keyword rule {id}", id=rule_id)
    rule.active = active
    record_audit(
        session, actor, "wecom.keyword.active", "keyword_rule", str(rule.id), {"active": active}
    )
    return rule


# -- benefit pools --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadResult:
    pool_id: int
    added: int
    already: int
    rejected: list[tuple[int, str]]  # (line, reason)


def load_codes(
    session: Session,
    corp_pk: int,
    pool_name: str,
    lines: Iterable[str],
    *,
    exhausted_text: str | None = None,
    actor: str,
) -> LoadResult:
    """Add codes to a pool (created on first use), one per line; blank lines are skipped,
    codes already in the pool are counted, not added twice."""
    if not pool_name.strip() or len(pool_name) > 100:
        raise KeywordError("pool: 1–100 characters")
    pool = session.scalar(
        sa.select(BenefitPool).where(BenefitPool.corp_id == corp_pk, BenefitPool.name == pool_name)
    )
    if pool is None:
        pool = BenefitPool(corp_id=corp_pk, name=pool_name.strip())
        session.add(pool)
    elif pool.issued_by:
        raise KeywordError(
            "pool {name!r} gives codes issued when claimed ({by}); load codes into another pool",
            name=pool_name[:100],
            by=pool.issued_by,
        )
    if exhausted_text is not None:
        if not exhausted_text.strip() or len(exhausted_text) > 500:
            raise KeywordError("exhausted text: 1–500 characters")
        pool.exhausted_text = exhausted_text
    session.flush()
    have = set(session.scalars(sa.select(BenefitCode.code).where(BenefitCode.pool_id == pool.id)))
    new: list[str] = []
    rejected: list[tuple[int, str]] = []
    already = 0
    for n, raw in enumerate(lines, start=1):
        code = raw.strip().lstrip("\ufeff")
        if not code:
            continue
        if len(code) > MAX_CODE or not code.isprintable():
            rejected.append((n, f"not a code (printable, at most {MAX_CODE} characters)"))
        elif code in have:
            already += 1
        else:
            have.add(code)
            new.append(code)
    for start in range(0, len(new), 1000):
        session.execute(
            sa.insert(BenefitCode),
            [{"pool_id": pool.id, "code": c} for c in new[start : start + 1000]],
        )
    record_audit(
        session, actor, "wecom.benefit.load", "benefit_pool", str(pool.id), {"added": len(new)}
    )
    return LoadResult(pool.id, len(new), already, rejected)


def claim_code(session: Session, pool_id: int, holder: str, customer_id: int | None) -> str | None:
    """The holder's code from the pool: the one they already have, else the next free one;
    None when the pool has run out. Safe when two workers claim at once (unique holder, and
    SKIP LOCKED on PostgreSQL)."""
    for _ in range(5):
        have = session.scalar(
            sa.select(BenefitCode.code).where(
                BenefitCode.pool_id == pool_id, BenefitCode.holder == holder
            )
        )
        if have:
            return have
        pick = (
            sa.select(BenefitCode.id)
            .where(BenefitCode.pool_id == pool_id, BenefitCode.claimed_at.is_(None))
            .order_by(BenefitCode.id)
            .limit(1)
        )
        if not is_sqlite(session):
            pick = pick.with_for_update(skip_locked=True)
        free = session.scalar(pick)
        if free is None:
            return None
        try:
            with session.begin_nested():
                taken = session.execute(
                    sa.update(BenefitCode)
                    .where(BenefitCode.id == free, BenefitCode.claimed_at.is_(None))
                    .values(holder=holder, customer_id=customer_id, claimed_at=clock.now())
                    .returning(BenefitCode.code)
                ).scalar()
        except IntegrityError:  # the same holder claimed meanwhile: take theirs
            continue
        if taken:
            return taken
    return None


def pool_stock(session: Session, corp_pk: int) -> list[dict[str, object]]:
    """Each pool's codes given and left; a pool whose codes are issued when claimed (a
    programme's coupon) has no stock of its own to run out of: ``left`` is None."""
    rows = session.execute(
        sa.select(
            BenefitPool.id,
            BenefitPool.name,
            BenefitPool.issued_by,
            sa.func.count(BenefitCode.id),
            sa.func.count(BenefitCode.claimed_at),
        )
        .outerjoin(BenefitCode, BenefitCode.pool_id == BenefitPool.id)
        .where(BenefitPool.corp_id == corp_pk)
        .group_by(BenefitPool.id, BenefitPool.name, BenefitPool.issued_by)
        .order_by(BenefitPool.id)
    ).all()
    return [
        {
            "id": i,
            "name": n,
            "codes": total,
            "claimed": claimed,
            "left": None if by else total - claimed,
            "issued_by": by or None,
        }
        for i, n, by, total, claimed in rows
    ]
