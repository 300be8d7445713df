"""The event API's request shapes (Segment-like: identify and track, single or batch)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from siyu.config import get_settings
from siyu.untrusted import storable_text


def _first_bad(value: Any, path: str) -> str | None:
    """What cannot be stored in ``value``, with where: a NUL character (PostgreSQL text
    refuses it), half a surrogate pair (no UTF-8 form; the HTTP door refuses both already, this
    holds for events read from files) or a NaN or Infinity (Python's JSON reader, and so the request parser, takes
    them, but they are not JSON: jsonb and every JSON reader downstream refuse them). Walked
    without recursion, so no nesting depth hides one."""
    todo: list[tuple[Any, str]] = [(value, path)]
    while todo:
        item, at = todo.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return f"{at}: the text contains a NUL character"
            if not storable_text(item):
                return f"{at}: the text holds half of a surrogate pair (no character)"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{at}: NaN and Infinity are not JSON numbers"
        elif isinstance(item, dict):
            for key, sub in item.items():
                if isinstance(key, str) and ("\x00" in key or not storable_text(key)):
                    return f"{at}: a key contains a NUL character or half a surrogate pair"
                todo.append((sub, f"{at}.{key}" if at else str(key)))
        elif isinstance(item, list):
            todo.extend((sub, f"{at}[{i}]") for i, sub in enumerate(item))
    return None


def _storable(data: Any, path: str = "") -> Any:
    found = _first_bad(data, path)
    if found:
        raise ValueError(found)
    return data


_FREE_FORM = ("properties", "context", "traits")


class Traits(BaseModel):
    """Who the person is; any of these identifies them."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        return _storable(data, "traits")

    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)
    unionid: str | None = Field(None, max_length=200)
    openid: str | None = Field(
        None,
        max_length=200,
        description="An official-account openid; it belongs to the account named by "
        "openid_appid (default: the configured account, SIYU_OA_APPID).",
    )
    openid_appid: str | None = Field(
        None, max_length=32, description="The AppID of the official account the openid is of."
    )
    name: str | None = Field(None, max_length=100)
    city: str | None = Field(None, max_length=32)
    province: str | None = Field(None, max_length=32)
    gender: str | None = Field(None, max_length=8)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Literal["identify", "track"]
    message_id: str = Field(..., alias="messageId", min_length=1, max_length=100)
    user_id: str | None = Field(
        None, alias="userId", max_length=200, description="The brand's member number."
    )
    anonymous_id: str | None = Field(None, alias="anonymousId", max_length=200)
    event: str | None = Field(None, max_length=100, description="Event name (track only).")
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: Traits | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime | None = None

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return value
        if value.tzinfo is None:
            raise ValueError("timestamp needs a time zone, e.g. 2026-06-18T10:00:00+08:00")
        earliest = get_settings().events_earliest
        if value < datetime.combine(earliest, time(0), UTC):
            raise ValueError(
                f"timestamp {value.isoformat()} is before {earliest.isoformat()}, the earliest "
                "time events are taken from (SIYU_EVENTS_EARLIEST)"
            )
        return value

    @field_validator("properties", "context", mode="before")
    @classmethod
    def _storable_values(cls, value: Any, info: ValidationInfo) -> Any:
        return _storable(value, info.field_name or "")

    @field_validator("event")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("event name is empty")
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """Nothing that cannot be stored, anywhere in the event; the free-form fields are
        checked by their own validators, so the answer names them."""
        if isinstance(data, dict):
            _storable({k: v for k, v in data.items() if k not in _FREE_FORM})
        return data


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch: list[EventIn] = Field(..., min_length=1)


class EventResult(BaseModel):
    messageId: str
    status: Literal["accepted", "duplicate"]
    customerId: int | None = None


class IngestOut(BaseModel):
    accepted: int
    duplicates: int
    results: list[EventResult]
