"""The staff handover API (在职转接 / 离职继承)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.customers import CUSTOMERS_READ
from siyu.webkit import Id, SessionDep, require
from siyu.wecom import WECOM_MANAGE, activity, shapes
from siyu.wecom.connection.service import only_corp
from siyu.wecom.handover.service import NoSuchHandover, Selection, handover_by_id, plan, retry
from siyu.wecom.handover.transfers import submit_now

router = APIRouter(tags=["wecom"])


class HandoverIn(BaseModel):
    kind: str = Field("onjob", description="onjob (在职转接) or resigned (离职继承)")
    from_userid: str = Field(alias="from", min_length=1, max_length=64)
    to_userid: str = Field(alias="to", min_length=1, max_length=64)
    tag: str | None = None
    live_code_id: Id | None = None
    customers: list[str] = Field(default_factory=list, max_length=10000)
    groups: bool = True
    message: str = Field("", max_length=200)
    dry_run: bool = False
    corp: str | None = None


class RetryIn(BaseModel):
    to: str | None = Field(None, max_length=64)


def _detail(session: Session, handover_id: int, who: Principal) -> dict[str, Any]:
    out = activity.handover_detail(session, handover_id, who)
    if out is None:
        raise NoSuchHandover("no handover {id}", id=handover_id)
    return out


@router.post("/api/v1/wecom/handovers", status_code=201, response_model=shapes.HandoverDetail)
def create_handover(
    session: SessionDep,
    body: HandoverIn,
    who: Principal = Depends(require(WECOM_MANAGE)),
) -> shapes.HandoverDetail:
    """Hand a member's customers (and groups) to another; ``dry_run`` shows what would move."""
    corp = only_corp(session, body.corp)
    handover = plan(
        session,
        corp,
        kind=body.kind,
        handover_userid=body.from_userid,
        takeover_userid=body.to_userid,
        selection=Selection(
            body.tag,
            body.live_code_id,
            tuple(body.customers),
            body.groups and not body.customers,
        ),
        message=body.message,
        actor=who.actor,
    )
    if body.dry_run:
        out = _detail(session, handover.id, who)
        session.rollback()
        out["status"] = "dry-run"
        return shapes.HandoverDetail.model_validate(out)
    session.commit()
    submit_now(session, handover)
    return shapes.HandoverDetail.model_validate(_detail(session, handover.id, who))


@router.get("/api/v1/wecom/handovers", response_model=list[shapes.HandoverRow])
def list_handovers(
    session: SessionDep,
    who: Principal = Depends(require(CUSTOMERS_READ)),
) -> list[shapes.HandoverRow]:
    """Handovers, newest first, with their items (those the caller may see) counted by
    status."""
    return [
        shapes.HandoverRow.model_validate(r) for r in activity.handovers(session, principal=who)
    ]


@router.get(
    "/api/v1/wecom/handovers/{handover_id}",
    response_model=shapes.HandoverDetail,
    responses={404: {}},
)
def get_handover(
    session: SessionDep,
    handover_id: Id,
    who: Principal = Depends(require(CUSTOMERS_READ)),
) -> shapes.HandoverDetail:
    """One handover, customer by customer and group by group (what the caller may see)."""
    return shapes.HandoverDetail.model_validate(_detail(session, handover_id, who))


@router.post(
    "/api/v1/wecom/handovers/{handover_id}/retry",
    response_model=shapes.HandoverRetried,
    responses={404: {}},
)
def retry_handover(
    session: SessionDep,
    handover_id: Id,
    body: RetryIn,
    who: Principal = Depends(require(WECOM_MANAGE)),
) -> shapes.HandoverRetried:
    """Ask again for customers whose takeover was full (or failed otherwise), optionally to
    another member; customers who refused are not asked again."""
    handover = handover_by_id(session, handover_id)
    n = retry(session, handover, body.to, actor=who.actor)
    session.commit()
    if n:
        submit_now(session, handover)
    return shapes.HandoverRetried.model_validate(
        {"retried": n, **_detail(session, handover_id, who)}
    )
