"""What a request brings holds only text that can be stored and shown.

Two kinds of "text" pass every length and pattern check and then break things:

- a NUL character (``%00`` in an address or a form, ``\\u0000`` in JSON): PostgreSQL text
  cannot hold it, so a search, a filter or a saved name with one answers 500;
- half of a UTF-16 surrogate pair (``"\\ud800"`` in JSON, or the bytes UTF-8 would give it):
  Python's JSON reader, so every route's body parser, makes it a string that has no UTF-8 form;
  it is stored (SQLite keeps it) and later breaks whatever page, answer or export shows it, for
  everyone.

Refusing them at the door, once, covers every route, present and future. The door also keeps
the body's encoding to what can be checked: JSON in UTF-8 (RFC 8259; Python's reader would take
UTF-16 and UTF-32 too, where none of this shows), and multipart forms only on the upload page
(every other console form is URL-encoded; a multipart one may name any charset).

The decision is made on the text, without decoding the JSON: one UTF-8 check and one search
per body; only a body that spells a NUL or a surrogate as an escape at all (a client escaping an
emoji writes a pair) has its pairs taken out and is searched again, in a few passes in C, so no
body, however built, costs more than those passes over it.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# an escape spelling a NUL or (half) a surrogate; and a whole pair of halves
_SUSPECT = re.compile(r"\\u(0000|[dD][89a-fA-F])")
_PAIR = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_WHY = {
    "nul": "the text holds a NUL character, which cannot be stored",
    "surrogate": "the text holds half of a UTF-16 surrogate pair, which is no character",
    "encoding": "a JSON body must be UTF-8 (RFC 8259)",
    "multipart": "multipart/form-data is taken by the upload page only",
}
_PAGE = (
    "<!doctype html><meta charset=utf-8><title>无法保存 / Cannot be stored</title>"
    "<p>提交的内容里有无法保存的字符（NUL 等控制字符），请删掉后返回重试。</p>"
    "<p lang=en>What was sent holds a character that cannot be stored (NUL); remove it and "
    "try again.</p>"
)


def unstorable_json(body: bytes) -> str | None:
    """Why a JSON body cannot be taken (a key of ``_WHY``), or None. A body that is not JSON
    at all passes: the route's own parser says so in its words."""
    if b"\x00" in body:  # UTF-16 or UTF-32 (their ASCII has NUL bytes); UTF-8 JSON has none
        return "encoding"
    try:
        text = body.decode("utf-8")  # refuses the UTF-8 bytes of a surrogate too
    except UnicodeDecodeError:
        return "encoding"
    if _SUSPECT.search(text) is None:
        return None
    # JSON reads a run of backslashes two at a time from the left, so taking the escaped ones
    # (two backslashes) out first leaves every backslash that starts an escape, and only
    # those; then the whole pairs go, and what still spells a NUL or a surrogate is one. Each
    # step is a pass in C (str.replace, the regex engine from a literal), however the body is.
    rest = _PAIR.sub("_", text.replace("\\\\", "__"))
    lone = _SUSPECT.search(rest)
    if lone is None:
        return None
    return "nul" if lone.group(1) == "0000" else "surrogate"


class StorableInput:
    """Refuses a request whose address holds a NUL (400), a URL-encoded form with a NUL or a
    JSON body with a NUL or half a surrogate pair (422), JSON not in UTF-8 (400) and multipart
    bodies outside ``multipart_paths`` (415).

    Sits inside ``BodyLimit``, so the body it holds in memory is already bounded; other bodies
    pass through untouched, streamed as they came. ``own_check``: paths whose route checks its
    JSON body itself (the event ingest, which names the field and the batch index in the shape
    its API promises); their address and encoding are still checked here."""

    def __init__(
        self,
        app: ASGIApp,
        own_check: frozenset[str] = frozenset(),
        multipart_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.own_check = own_check
        self.multipart_paths = multipart_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"]:
            await _refuse(scope, receive, send, 400, ["path"], "nul")
            return
        if b"%00" in scope.get("query_string", b""):
            await _refuse(scope, receive, send, 400, ["query"], "nul")
            return
        kind = _body_kind(scope)
        if kind == "multipart" and scope["path"] not in self.multipart_paths:
            await _refuse(scope, receive, send, 415, ["header", "content-type"], "multipart")
            return
        if kind not in ("json", "form"):
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
        if kind == "json":
            why = unstorable_json(body)
            if why == "encoding" or (why and scope["path"] not in self.own_check):
                await _refuse(scope, receive, send, 400 if why == "encoding" else 422, [], why)
                return
        elif b"%00" in body or b"\x00" in body:
            await _refuse(scope, receive, send, 422, [], "nul")
            return
        await self.app(scope, _replay([{"type": "http.request", "body": body}], receive), send)


def _body_kind(scope: Scope) -> str | None:
    """The body's media type read as the frameworks read it (whitespace as ``str.strip``
    knows it, any case), so no spelling makes it pass here and parse there."""
    for key, value in scope.get("headers") or []:
        if key == b"content-type":
            kind = value.decode("latin-1").split(";", 1)[0].strip().lower()
            if kind == "application/json" or kind.endswith("+json"):
                return "json"
            if kind == "application/x-www-form-urlencoded":
                return "form"
            if kind.startswith("multipart/"):
                return "multipart"
            return None
    return None


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, loc: list[str], why: str
) -> None:
    if not scope["path"].startswith("/api/") and why == "nul":  # a console page: words
        await HTMLResponse(_PAGE, status)(scope, receive, send)
        return
    detail = [{"loc": loc or ["body"], "msg": _WHY[why], "type": why}]
    await JSONResponse({"detail": detail}, status)(scope, receive, send)


def _replay(messages: list[Message], then: Receive) -> Receive:
    """The messages already read, then the client's own (a disconnect, when it comes)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await then()

    return receive
