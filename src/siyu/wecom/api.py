"""WeCom's callback URL (`/wecom/callback/{corp_id}`) and the WeCom status API.

The callback endpoint authenticates by WeCom's signature, not by login. It answers within
milliseconds: verify, decrypt, store in the inbox, reply ``success``; the worker does the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.types import Receive, Scope

from siyu.accounts.service import Principal
from siyu.config import get_settings
from siyu.customers import CUSTOMERS_READ
from siyu.webkit import Id, SessionDep, require
from siyu.wecom import WECOM_MANAGE, queries, shapes
from siyu.wecom.callbacks import service as inbox
from siyu.wecom.callbacks.endpoint import CallbackEndpointBase, read_body
from siyu.wecom.connection.service import (
    cached_client,
    corp_keys,
    only_corp,
    record_calls,
)
from siyu.wecom.live_codes.models import LiveCodeStaff
from siyu.wecom.live_codes.service import (
    StaffSpec,
    create_live_code,
    live_code_by_id,
    qr_image,
    stats,
)
from siyu.wecom.live_codes.welcome import set_default

log = logging.getLogger("siyu.wecom.callback")
router = APIRouter(tags=["wecom"])
# answers several WeCom routes declare (the API document)
WECOM_REFUSED: dict[str, Any] = {"description": "WeCom refused the call; `detail` says why."}
QR_PNG: dict[str, Any] = {"description": "The QR code image.", "content": {"image/png": {}}}
QR_UNFETCHED: dict[str, Any] = {"description": "WeCom's QR image could not be fetched."}


class CallbackEndpoint(CallbackEndpointBase):
    """``/wecom/callback/{corp_id}``: verify, decrypt, store in the inbox, reply ``success``;
    the worker does the rest (``siyu.wecom.callbacks.endpoint`` for what every callback URL shares)."""

    PREFIX = "/wecom/callback/"
    STATUS_OF: ClassVar[dict[str, int]] = {**CallbackEndpointBase.STATUS_OF, "replayed": 403}
    log = logging.getLogger("siyu.wecom.callback")

    async def handle(
        self, scope: Scope, receive: Receive, corp_id: str, query: dict[str, str]
    ) -> tuple[int, str]:
        settings = get_settings()
        keys = corp_keys(corp_id) if "/" not in corp_id else None
        if keys is None:
            return 404, "unknown corp"
        if scope["method"] == "GET":  # WeCom's URL check: answer the decrypted echostr
            inbox.check_time(query.get("timestamp", ""), settings)
            plain = keys.crypto.verify_url(
                query.get("msg_signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
                query.get("echostr", ""),
            )
            return 200, plain.decode("utf-8", "replace")
        body = await read_body(scope, receive, settings.wecom_callback_max_bytes)
        incoming = inbox.open_callback(keys, query, body, settings)
        # IntegrityError: the same event stored by another process at the same moment
        with contextlib.suppress(IntegrityError):
            await asyncio.wrap_future(inbox.store(incoming))
        inbox.remember(query, settings)
        return 200, "success"


@router.get("/api/v1/wecom/status", response_model=shapes.WecomStatus)
def wecom_status(
    session: SessionDep,
    who: Principal = Depends(require(CUSTOMERS_READ)),
) -> shapes.WecomStatus:
    """Per connected corp: the last sync and its position or error, the inbox backlog and
    failures, and the last hour's API errors by errcode. Failures are shown, never hidden.
    Friendships and customers count those the caller may see."""
    return shapes.WecomStatus(
        corps=queries.status(session, who), rejected_callbacks=dict(CallbackEndpoint.REJECTED)
    )


# -- live codes, welcome messages, alerts ---------------------------------------------------------
class StaffIn(BaseModel):
    userid: str = Field(..., min_length=1, max_length=64)
    weight: int = Field(1, ge=1, le=100)
    daily_limit: int = Field(0, ge=0, le=100_000, description="Adds per day; 0 = no limit.")


class LiveCodeIn(BaseModel):
    name: str = Field(..., min_length=1, max_length=100)
    staff: list[StaffIn] = Field(..., min_length=1, max_length=100)
    channel: str = Field("other", description="store, poster, parcel, live, ad, event, other")
    rotation: str = Field("round_robin", description="round_robin or weighted")
    skip_verify: bool = Field(True, description="Accept friend requests automatically.")
    tags: list[str] = Field(default_factory=list, max_length=50, description="分组/标签 paths")
    welcome: str | None = Field(None, max_length=4000, description="This code's welcome text.")
    store: str | None = Field(None, max_length=64, description="Store code.")
    corp: str | None = Field(None, description="Corp id, when several are connected.")


class WelcomeIn(BaseModel):
    text: str = Field("", max_length=4000)
    attachments: list[dict[str, Any]] = Field(default_factory=list, max_length=9)
    corp: str | None = None


def corp_or_422(session: Session, corp: str | None) -> Any:
    """The corp named, or the only one (a refusal, 422, names what is wrong)."""
    return only_corp(session, corp)


@router.get("/api/v1/wecom/live-codes", response_model=list[shapes.LiveCodeRow])
def list_live_codes(
    session: SessionDep,
    who: Principal = Depends(require(CUSTOMERS_READ)),
) -> list[shapes.LiveCodeRow]:
    """Live codes with their staff, rotation and net adds (of the customers the caller may
    see)."""
    return [shapes.LiveCodeRow.model_validate(r) for r in queries.live_codes(session, who)]


@router.post(
    "/api/v1/wecom/live-codes",
    status_code=201,
    response_model=shapes.LiveCodeOut,
    responses={502: WECOM_REFUSED},
)
def create_live_code_api(
    session: SessionDep,
    body: LiveCodeIn,
    who: Principal = Depends(require(WECOM_MANAGE)),
) -> shapes.LiveCodeOut:
    """Create a channel live code at WeCom (422 names the bad field; 502 if WeCom refuses)."""
    corp = corp_or_422(session, body.corp)
    client = cached_client(session, corp)
    try:
        code = create_live_code(
            session,
            client,
            corp.id,
            name=body.name,
            staff=[StaffSpec(s.userid, s.weight, s.daily_limit) for s in body.staff],
            channel=body.channel,
            rotation=body.rotation,
            skip_verify=body.skip_verify,
            tag_paths=body.tags,
            welcome_text=body.welcome,
            store_code=body.store,
            actor=who.actor,
        )
    finally:
        record_calls(session, corp, client)
    return shapes.LiveCodeOut.model_validate(
        queries.live_code_summary(
            code,
            list(
                session.scalars(
                    sa.select(LiveCodeStaff).where(LiveCodeStaff.live_code_id == code.id)
                )
            ),
        )
    )


@router.get(
    "/api/v1/wecom/live-codes/{code_id}/stats",
    response_model=shapes.LiveCodeStats,
    responses={404: {}},
)
def live_code_stats(
    session: SessionDep,
    code_id: Id,
    days: int = Query(30, ge=1, le=366),
    who: Principal = Depends(require(CUSTOMERS_READ)),
) -> shapes.LiveCodeStats:
    """Adds, deletions and net adds by day (Asia/Shanghai days) and by staff member, of the
    customers the caller may see."""
    return shapes.LiveCodeStats.model_validate(
        stats(session, live_code_by_id(session, code_id), days, principal=who)
    )


@router.get(
    "/api/v1/wecom/live-codes/{code_id}/qr.png",
    response_class=Response,
    responses={200: QR_PNG, 404: {}, 502: QR_UNFETCHED},
)
def live_code_qr(
    session: SessionDep,
    code_id: Id,
    _who: Any = Depends(require(CUSTOMERS_READ)),
) -> Response:
    """The QR code image, for posters, counters and parcel cards."""
    code = live_code_by_id(session, code_id)
    return Response(
        qr_image(code),
        media_type="image/png",
        headers={"Content-Disposition": f'inline; filename="live-code-{code.id}.png"'},
    )


@router.put("/api/v1/wecom/welcome/default", response_model=shapes.WelcomeOut)
def put_default_welcome(
    session: SessionDep,
    body: WelcomeIn,
    who: Principal = Depends(require(WECOM_MANAGE)),
) -> shapes.WelcomeOut:
    """The welcome sent to customers who add staff without a live code of their own."""
    corp = corp_or_422(session, body.corp)
    row = set_default(session, corp.id, body.text, body.attachments, actor=who.actor)
    return shapes.WelcomeOut(id=row.id, text=row.text, attachments=row.attachments)


@router.get("/api/v1/wecom/alerts", response_model=shapes.Alerts)
def list_alerts(
    session: SessionDep,
    who: Principal = Depends(require(CUSTOMERS_READ)),
) -> shapes.Alerts:
    """Open alerts (capacity, customers lost, failed transfers) and welcome delivery figures,
    about the customers the caller may see."""
    return shapes.Alerts(
        alerts=queries.open_alerts(session, principal=who),
        welcome=queries.welcome_stats(session, principal=who),
    )


@router.get("/api/v1/wecom/duplicates", response_model=shapes.Duplicates)
def wecom_duplicates(
    session: SessionDep,
    who: Principal = Depends(require(CUSTOMERS_READ)),
) -> shapes.Duplicates:
    """Customers who are friends of several staff members (one customer each in Siyu), overall,
    by live code and by store — among the customers the caller may see."""
    return shapes.Duplicates.model_validate(queries.duplicates(session, principal=who))
