"""The event API's request shapes (Segment-like: identify and track, single or batch)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def _has_nul(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if depth > 20:
        return False
    if isinstance(value, dict):
        return any(_has_nul(k, depth + 1) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


class Traits(BaseModel):
    """Who the person is; any of these identifies them."""

    model_config = ConfigDict(extra="allow")
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
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamp needs a time zone, e.g. 2026-06-18T10:00:00+08:00")
        return value

    @field_validator("event")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("event name is empty")
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """NUL characters cannot be stored (PostgreSQL text refuses them): refuse them here."""
        if _has_nul(data):
            raise ValueError("the event contains a NUL character")
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
