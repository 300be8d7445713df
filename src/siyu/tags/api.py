"""/api/v1/tags: the catalogue, manual tagging in bulk, and tag rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from siyu.accounts.service import Principal
from siyu.customers import CUSTOMERS_READ
from siyu.customers.queries import CustomerFilter, customer_ids, customers_by_phones
from siyu.tags import TAGS_WRITE, service
from siyu.tags.queries import (
    Assigned,
    GroupAdded,
    GroupOut,
    RuleAdded,
    RuleDeleted,
    TagAdded,
    Unassigned,
    catalogue,
)
from siyu.webkit import Id, SessionDep, require

router = APIRouter(prefix="/api/v1", tags=["tags"])


class GroupIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=50, examples=["肤质"])
    single: bool = Field(False, description="At most one tag of the group per customer.")


class TagIn(BaseModel):
    path: str = Field(..., description="分组/标签, e.g. 肤质/油性", max_length=101)


class FilterIn(BaseModel):
    """The customer list's filter (as in the console's customer page)."""

    q: str | None = Field(None, max_length=100)
    source: str | None = Field(None, max_length=32)
    store_id: Id | None = None


class AssignIn(BaseModel):
    path: str = Field(..., max_length=101)
    customer_ids: list[Id] = Field(default_factory=list, max_length=100_000)
    phones: list[str] = Field(default_factory=list, max_length=100_000)
    filter: FilterIn | None = Field(None, description="Also tag everyone this filter matches.")


class RuleIn(BaseModel):
    path: str = Field(..., max_length=101)
    condition: dict[str, Any] = Field(..., examples=[{"kind": "total_spend", "min_yuan": 1000}])


@router.get("/tags", response_model=list[GroupOut])
def get_tags(
    session: SessionDep,
    p: Principal = Depends(require(CUSTOMERS_READ)),
) -> list[GroupOut]:
    """Groups, tags, how many customers carry each (by source), and rules — counted over the
    customers the caller may see."""
    return catalogue(session, p)


@router.post(
    "/tag-groups",
    status_code=201,
    response_model=GroupAdded,
    responses={409: {"description": "exists"}, 422: {}},
)
def post_group(
    session: SessionDep,
    body: GroupIn,
    p: Principal = Depends(require(TAGS_WRITE)),
) -> GroupAdded:
    g = service.add_group(session, body.name, single=body.single, actor=p.actor)
    return GroupAdded(id=g.id, name=g.name, single=g.single)


@router.post(
    "/tags",
    status_code=201,
    response_model=TagAdded,
    responses={409: {"description": "exists"}, 422: {}},
)
def post_tag(
    session: SessionDep,
    body: TagIn,
    p: Principal = Depends(require(TAGS_WRITE)),
) -> TagAdded:
    t = service.add_tag(session, body.path, actor=p.actor)
    return TagAdded(id=t.id, path=body.path)


@router.post(
    "/tags/assign",
    response_model=Assigned,
    responses={422: {"description": "unknown tag or customers"}},
)
def post_assign(
    session: SessionDep,
    body: AssignIn,
    p: Principal = Depends(require(TAGS_WRITE)),
) -> Assigned:
    """Tag customers by hand: by ids, phone numbers and/or a customer-list filter; phones that
    match nobody are listed."""
    tag = service.find_tag(session, body.path)
    found, missing = customers_by_phones(session, body.phones)
    matched = []
    if body.filter is not None:
        f = body.filter
        matched = customer_ids(session, p, CustomerFilter(f.q, f.source, f.store_id))
    added = service.assign(session, tag, [*body.customer_ids, *found, *matched], actor=p.actor)
    return Assigned(added=added, phones_not_found=missing)


@router.post(
    "/tags/unassign", response_model=Unassigned, responses={422: {"description": "unknown tag"}}
)
def post_unassign(
    session: SessionDep,
    body: AssignIn,
    p: Principal = Depends(require(TAGS_WRITE)),
) -> Unassigned:
    tag = service.find_tag(session, body.path)
    removed = service.unassign(session, tag, body.customer_ids, actor=p.actor)
    return Unassigned(removed=removed)


@router.post(
    "/tag-rules",
    status_code=201,
    response_model=RuleAdded,
    responses={422: {"description": "bad rule"}},
)
def post_rule(
    session: SessionDep,
    body: RuleIn,
    p: Principal = Depends(require(TAGS_WRITE)),
) -> RuleAdded:
    rule = service.add_rule(
        session, service.find_tag(session, body.path), body.condition, actor=p.actor
    )
    return RuleAdded(id=rule.id, condition=rule.condition)


@router.delete("/tag-rules/{rule_id}", response_model=RuleDeleted, responses={404: {}})
def delete_rule(
    session: SessionDep,
    rule_id: Id,
    p: Principal = Depends(require(TAGS_WRITE)),
) -> RuleDeleted:
    removed = service.delete_rule(session, rule_id, actor=p.actor)
    return RuleDeleted(deleted=rule_id, tags_removed=removed)
