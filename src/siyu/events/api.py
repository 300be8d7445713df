"""POST /api/v1/events — identify/track, single or batch, idempotent on messageId."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from siyu.accounts.service import Principal
from siyu.config import get_settings
from siyu.events import EVENTS_WRITE
from siyu.events.schemas import BatchIn, EventIn, EventResult, IngestOut
from siyu.events.service import validate
from siyu.events.writer import submit
from siyu.webkit import require

router = APIRouter(prefix="/api/v1", tags=["events"])
# checks its own bodies (NUL, half surrogate pairs, NaN), naming the field and the batch index
EVENT_PATHS = frozenset({"/api/v1/events"})

EXAMPLE = {
    "type": "track",
    "messageId": "5f1c-0001",
    "userId": "M000123",
    "event": "浏览商品",
    "properties": {"sku": "SK-1001"},
    "traits": {"phone": "13812345678"},
    "timestamp": "2026-06-18T10:00:00+08:00",
}


@router.post(
    "/events",
    response_model=IngestOut,
    responses={
        401: {"description": "no or bad API key"},
        403: {"description": "key lacks events:write"},
        409: {"description": "a concurrent write conflicted; retry the request"},
        413: {"description": "body too large"},
        422: {"description": "invalid event; `detail` names the field and the batch index"},
    },
)
async def post_events(
    payload: dict[str, Any] = Body(..., examples=[EXAMPLE, {"batch": [EXAMPLE]}]),
    principal: Principal = Depends(require(EVENTS_WRITE)),
) -> IngestOut:
    """Send one event, or `{"batch": [...]}` of up to SIYU_EVENT_BATCH_MAX events.

    The same messageId sent again is answered `duplicate` and changes nothing. The answer comes
    after the events are committed.
    """
    events = _parse(payload, get_settings().event_batch_max)
    keys = validate(events)
    try:
        stored = await asyncio.wrap_future(submit(events, principal.actor, keys))
    except IntegrityError:
        raise HTTPException(409, "conflicting concurrent write; retry the request") from None
    return IngestOut(
        accepted=sum(s.status == "accepted" for s in stored),
        duplicates=sum(s.status == "duplicate" for s in stored),
        results=[
            EventResult(messageId=s.message_id, status=s.status, customerId=s.customer_id)
            for s in stored
        ],
    )


def _parse(payload: dict[str, Any], limit: int) -> list[EventIn]:
    try:
        if "batch" in payload:
            if isinstance(payload["batch"], list) and len(payload["batch"]) > limit:
                raise HTTPException(
                    413, f"batch of {len(payload['batch'])} events; at most {limit} per request"
                )
            return BatchIn.model_validate(payload).batch
        return [EventIn.model_validate(payload)]
    except ValidationError as exc:
        raise HTTPException(
            422,
            [
                {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in exc.errors()
            ],
        ) from None
