"""The keyword auto-reply API: rules, benefit-code pools, and what was answered."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from siyu.accounts.service import Principal
from siyu.customers import CUSTOMERS_READ
from siyu.untrusted import KEYWORD_PRIORITY_MAX
from siyu.webkit import Id, SessionDep, require
from siyu.wecom import WECOM_MANAGE, activity, shapes
from siyu.wecom.api import corp_or_422
from siyu.wecom.replies.service import (
    CHANNELS,
    RuleSpec,
    add_rule,
    load_codes,
    pool_stock,
    set_active,
)

router = APIRouter(tags=["wecom"])


class KeywordRuleIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    match: str = Field("words", description="exact, contains, regex or words (jieba)")
    pattern: str = Field(min_length=1, max_length=200)
    reply_text: str = Field("", max_length=2000, description="{{ code }} places the benefit code")
    pool: str | None = None
    tags: list[str] = Field(default_factory=list, description="分组/标签 paths")
    channels: list[str] = Field(default_factory=lambda: list(CHANNELS))
    priority: int = Field(100, ge=0, le=KEYWORD_PRIORITY_MAX)
    corp: str | None = None


class KeywordRulePatch(BaseModel):
    active: bool


class CodesIn(BaseModel):
    codes: list[str] = Field(min_length=1, max_length=100000)
    exhausted_text: str | None = Field(None, max_length=500)
    corp: str | None = None


@router.get("/api/v1/wecom/keywords", response_model=list[shapes.KeywordRuleOut])
def list_keyword_rules(
    session: SessionDep,
    who: Principal = Depends(require(CUSTOMERS_READ)),
) -> list[shapes.KeywordRuleOut]:
    """Rules in the order they are tried, with replies sent in the last 30 days (to the
    customers the caller may see)."""
    return [
        shapes.KeywordRuleOut.model_validate(r)
        for r in activity.keyword_rules(session, principal=who)
    ]


@router.post("/api/v1/wecom/keywords", status_code=201, response_model=shapes.KeywordRuleOut)
def create_keyword_rule(
    session: SessionDep,
    body: KeywordRuleIn,
    who: Principal = Depends(require(WECOM_MANAGE)),
) -> shapes.KeywordRuleOut:
    """Add a rule (422 names the field that is wrong)."""
    spec = RuleSpec(
        body.name,
        body.match,
        body.pattern,
        body.reply_text,
        body.pool,
        tuple(body.tags),
        tuple(body.channels),
        body.priority,
    )
    rule = add_rule(session, corp_or_422(session, body.corp).id, spec, actor=who.actor)
    return shapes.KeywordRuleOut.model_validate(
        next(r for r in activity.keyword_rules(session) if r["id"] == rule.id)
    )


@router.patch(
    "/api/v1/wecom/keywords/{rule_id}", response_model=shapes.RuleActive, responses={404: {}}
)
def patch_keyword_rule(
    session: SessionDep,
    rule_id: Id,
    body: KeywordRulePatch,
    who: Principal = Depends(require(WECOM_MANAGE)),
) -> shapes.RuleActive:
    """Turn a rule on or off."""
    set_active(session, rule_id, body.active, actor=who.actor)
    return shapes.RuleActive(id=rule_id, active=body.active)


@router.get("/api/v1/wecom/keyword-replies", response_model=list[shapes.KeywordReplyOut])
def list_keyword_replies(
    session: SessionDep,
    limit: int = Query(100, ge=1, le=1000),
    who: Principal = Depends(require(CUSTOMERS_READ)),
) -> list[shapes.KeywordReplyOut]:
    """The latest messages the rules looked at and what was answered, from the customers the
    caller may see; texts masked by value."""
    return [
        shapes.KeywordReplyOut.model_validate(r)
        for r in activity.keyword_replies(session, limit, principal=who)
    ]


@router.get("/api/v1/wecom/benefit-pools", response_model=list[shapes.PoolStock])
def list_benefit_pools(
    session: SessionDep,
    corp: str | None = None,
    _who: Any = Depends(require(CUSTOMERS_READ)),
) -> list[shapes.PoolStock]:
    """Pools with codes given and left."""
    return [
        shapes.PoolStock.model_validate(r)
        for r in pool_stock(session, corp_or_422(session, corp).id)
    ]


@router.post("/api/v1/wecom/benefit-pools/{name}/codes", response_model=shapes.CodesAdded)
def add_benefit_codes(
    session: SessionDep,
    name: str,
    body: CodesIn,
    who: Principal = Depends(require(WECOM_MANAGE)),
) -> shapes.CodesAdded:
    """Add codes to a pool (created if new); codes already there are counted, not doubled."""
    result = load_codes(
        session,
        corp_or_422(session, body.corp).id,
        name,
        body.codes,
        exhausted_text=body.exhausted_text,
        actor=who.actor,
    )
    return shapes.CodesAdded(
        pool_id=result.pool_id,
        added=result.added,
        already_in_pool=result.already,
        rejected=[{"line": n, "reason": why} for n, why in result.rejected],
    )
