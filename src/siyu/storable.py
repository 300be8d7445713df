"""What a request brings holds only text that can be stored and shown.

Two kinds of "text" pass every length and pattern check and then break things:

- a NUL character (``%00`` in an address or a form, ``\\u0000`` in JSON): PostgreSQL text
  cannot hold it, so a search, a filter or a saved name with one answers 500;
- half of a UTF-16 surrogate pair (``"\\ud800"`` in JSON, or the bytes UTF-8 would give it):
  Python's JSON reader, so every route's body parser, makes it a string that has no UTF-8 form;
  it is stored (SQLite keeps it) and later breaks whatever page, answer or export shows it, for
  everyone.

Refusing them at the door, once, covers every route, present and future. The cost is a
substring search per address and per form or JSON body; only a JSON body that spells a NUL or a
surrogate at all (a client escaping an emoji writes a proper pair) is read a second time to find
out where.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# a NUL or a surrogate spelt as an escape, or a surrogate as the bytes UTF-8 would give it
_SUSPECT_JSON = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)|\xed[\xa0-\xbf]")
_WHY = {
    "nul": "the text holds a NUL character, which cannot be stored",
    "surrogate": "the text holds half of a UTF-16 surrogate pair, which is no character",
}


def storable_text(text: str) -> bool:
    """False for a string holding a lone surrogate (it has no UTF-8 form)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def first_unstorable(value: Any) -> tuple[str, list[str | int]] | None:
    """The first string or key in a decoded JSON value with a NUL or a lone surrogate: what
    (``nul``/``surrogate``) and where (a path of keys and indexes). Walked without recursion."""
    todo: list[tuple[Any, list[str | int]]] = [(value, [])]
    while todo:
        item, at = todo.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "nul", at
            if not storable_text(item):
                return "surrogate", at
        elif isinstance(item, dict):
            for key, sub in item.items():
                if "\x00" in key or not storable_text(key):
                    shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
                    return ("nul" if "\x00" in key else "surrogate"), [*at, shown]
                todo.append((sub, [*at, key]))
        elif isinstance(item, list):
            todo.extend((sub, [*at, i]) for i, sub in enumerate(item))
    return None


class StorableInput:
    """Refuses a request whose address holds a NUL (400), or whose JSON or form body holds a NUL
    or half a surrogate pair (422, naming where in the JSON).

    Sits inside ``BodyLimit``, so the body it holds in memory is already bounded; other bodies
    (uploads) pass through untouched, streamed as they came. ``own_check``: paths whose route
    checks its JSON body itself (the event ingest, which names the field and the batch index in
    the shape its API promises); their address is still checked here."""

    def __init__(self, app: ASGIApp, own_check: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.own_check = own_check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await _refuse(scope, receive, send, 400, ["query"], "nul")
            return
        kind = _body_kind(scope)
        if kind is None or (kind == "json" and scope["path"] in self.own_check):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            try:
                message = await receive()
            except HTTPException as exc:  # BodyLimit: the stream went over the limit
                await JSONResponse({"detail": exc.detail}, exc.status_code)(scope, receive, send)
                return
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        found = _in_json(body) if kind == "json" else _in_form(body)
        if found is not None:
            what, where = found
            await _refuse(scope, receive, send, 422, ["body", *where], what)
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _body_kind(scope: Scope) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            if kind == b"application/json" or kind.endswith(b"+json"):
                return "json"
            if kind == b"application/x-www-form-urlencoded":
                return "form"
            return None
    return None


def _in_json(body: bytes) -> tuple[str, list[str | int]] | None:
    if _SUSPECT_JSON.search(body) is None:
        return None
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the route's own parser says so
    return first_unstorable(decoded)


def _in_form(body: bytes) -> tuple[str, list[str | int]] | None:
    if b"%00" in body or b"\x00" in body:
        return "nul", []
    return None


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, loc: list[str | int], what: str
) -> None:
    detail = [{"loc": loc, "msg": _WHY[what], "type": what}]
    await JSONResponse({"detail": detail}, status)(scope, receive, send)


def _replay(messages: list[Message], then: Receive) -> Receive:
    """The messages already read, then the client's own (a disconnect, when it comes)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await then()

    return receive
