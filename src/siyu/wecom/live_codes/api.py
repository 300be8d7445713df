"""The group live code API (群活码)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.customers import CUSTOMERS_READ
from siyu.webkit import Id, SessionDep, require
from siyu.wecom import WECOM_MANAGE, queries, shapes
from siyu.wecom.api import QR_PNG, QR_UNFETCHED, WECOM_REFUSED, corp_or_422
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.connection.service import cached_client, record_calls
from siyu.wecom.live_codes.group_codes import add_groups, create_group_code, group_code_summary
from siyu.wecom.live_codes.models import GroupLiveCode
from siyu.wecom.live_codes.service import LiveCodeError, WecomRefused, fetch_qr

router = APIRouter(tags=["wecom"])


class GroupCodeIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    chat_ids: list[str] = Field(min_length=1, max_length=100)
    corp: str | None = None


class GroupsIn(BaseModel):
    chat_ids: list[str] = Field(min_length=1, max_length=100)


def _code(session: Session, code_id: int) -> GroupLiveCode:
    code = session.get(GroupLiveCode, code_id)
    if code is None:
        raise HTTPException(404, f"no group live code {code_id}")
    return code


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
    except LiveCodeError as exc:
        raise HTTPException(502 if isinstance(exc, WecomRefused) else 422, str(exc)) from None
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
    return shapes.GroupCodeOut.model_validate(group_code_summary(session, _code(session, code_id)))


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
    code = _code(session, code_id)
    corp = session.get(WecomCorp, code.corp_id)
    assert corp is not None
    client = cached_client(session, corp)
    try:
        add_groups(session, client, code, body.chat_ids, actor=who.actor)
    except LiveCodeError as exc:
        raise HTTPException(502 if isinstance(exc, WecomRefused) else 422, str(exc)) from None
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
    code = _code(session, code_id)
    if code.qr_png is None:
        code.qr_png = fetch_qr(code.qr_url)
    if code.qr_png is None:
        raise HTTPException(502, "WeCom's QR image could not be fetched; try again")
    return Response(code.qr_png, media_type="image/png")
