"""What every simulated WeCom API shares: the registry of handlers, WeCom's answer shapes and
its opaque paging cursors."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from siyu.simulators.wecom.world import World

Handler = Callable[[World, dict[str, Any], dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def api(path: str) -> Callable[[Handler], Handler]:
    def add(fn: Handler) -> Handler:
        HANDLERS[path] = fn
        return fn

    return add


def err(code: int, msg: str) -> dict[str, Any]:
    return {"errcode": code, "errmsg": msg}


def ok(**data: Any) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": "ok", **data}


def make_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode() if offset else ""


def read_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.urlsafe_b64decode(cursor.encode()).decode()[1:])
    except ValueError:
        return -1


def page(items: list[Any], cursor: str | None, limit: int) -> tuple[list[Any], str] | None:
    start = read_offset(cursor)
    if start < 0:
        return None
    end = start + limit
    return items[start:end], (make_cursor(end) if end < len(items) else "")
