"""The group live code API (群活码)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from siyu.accounts.service import Principal
from siyu.customers import CUSTOMERS_READ
from siyu.webkit import Id, SessionDep, require
from siyu.wecom import WECOM_MANAGE, queries, shapes
from siyu.wecom.api import QR_PNG, QR_UNFETCHED, WECOM_REFUSED, corp_or_422
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.connection.service import cached_client, record_calls
from siyu.wecom.live_codes.group_codes import (
    add_groups,
    create_group_code,
    group_code_by_id,
    group_code_summary,
)
from siyu.wecom.live_codes.service import qr_image

router = APIRouter(tags=["wecom"])


class GroupCodeIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    chat_ids: list[str] = Field(min_length=1, max_length=100)
    corp: str | None = None


class GroupsIn(BaseModel):
    chat_ids: list[str] = Field(min_length=1, max_length=100)


@router.get("/api/v1/wecom/group-codes", response_model=list[shapes.GroupCodeOut])
def list_group_codes(
    session: SessionDep,
    _who: Any = Depends(require(CUSTOMERS_READ)),
) -> list[shapes.GroupCodeOut]:
    """Group live codes with their groups, member counts and which are in the join way."""
    return [shapes.GroupCodeOut.model_validate(r) for r in queries.group_codes(session)]


@router.post(
    "/api/v1/wecom/group-codes",
    status_code=201,
    response_model=shapes.GroupCodeOut,
    responses={502: WECOM_REFUSED},
)
def create_group_code_api(
    session: SessionDep,
    body: GroupCodeIn,
    who: Principal = Depends(require(WECOM_MANAGE)),
) -> shapes.GroupCodeOut:
    """Create a group live code over groups in order (422 names the bad part; 502 if WeCom
    refuses)."""
    corp = corp_or_422(session, body.corp)
    client = cached_client(session, corp)
    try:
        code = create_group_code(
            session, client, corp.id, name=body.name, chat_ids=body.chat_ids, actor=who.actor
        )
    finally:
        record_calls(session, corp, client)
    return shapes.GroupCodeOut.model_validate(group_code_summary(session, code))


@router.get(
    "/api/v1/wecom/group-codes/{code_id}", response_model=shapes.GroupCodeOut, responses={404: {}}
)
def get_group_code(
    session: SessionDep,
    code_id: Id,
    _who: Any = Depends(require(CUSTOMERS_READ)),
) -> shapes.GroupCodeOut:
    return shapes.GroupCodeOut.model_validate(
        group_code_summary(session, group_code_by_id(session, code_id))
    )


@router.post(
    "/api/v1/wecom/group-codes/{code_id}/groups",
    response_model=shapes.GroupCodeOut,
    responses={404: {}, 502: WECOM_REFUSED},
)
def add_group_code_groups(
    session: SessionDep,
    code_id: Id,
    body: GroupsIn,
    who: Principal = Depends(require(WECOM_MANAGE)),
) -> shapes.GroupCodeOut:
    """Append groups to the code's rotation (a new group opened as the others fill)."""
    code = group_code_by_id(session, code_id)
    corp = session.get(WecomCorp, code.corp_id)
    assert corp is not None
    client = cached_client(session, corp)
    try:
        add_groups(session, client, code, body.chat_ids, actor=who.actor)
    finally:
        record_calls(session, corp, client)
    return shapes.GroupCodeOut.model_validate(group_code_summary(session, code))


@router.get(
    "/api/v1/wecom/group-codes/{code_id}/qr.png",
    response_class=Response,
    responses={200: QR_PNG, 404: {}, 502: QR_UNFETCHED},
)
def group_code_qr(
    session: SessionDep,
    code_id: Id,
    _who: Any = Depends(require(CUSTOMERS_READ)),
) -> Response:
    return Response(qr_image(group_code_by_id(session, code_id)), media_type="image/png")
