"""Text that cannot be stored is refused at the door: NUL anywhere, half surrogate pairs in JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message

from siyu.storable import StorableInput, first_unstorable, storable_text


def test_storable_text() -> None:
    assert storable_text("plain")
    assert storable_text("张三 😀")
    assert not storable_text("a\ud800b")
    assert not storable_text("\udfff")


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ({"a": "x"}, None),
        ({"a": ["😀", {"b": "张"}]}, None),
        ({"a": ["ok", {"b": "x\ud800"}]}, ("surrogate", ["a", 1, "b"])),
        ({"a\x00": 1}, ("nul", ["a\x00"])),
        ([[[["a\x00b"]]]], ("nul", [0, 0, 0, 0])),
        ({"\udc00": 1}, ("surrogate", ["\\udc00"])),
    ],
)
def test_first_unstorable(value: Any, found: tuple[str, list[Any]] | None) -> None:
    assert first_unstorable(value) == found


def _call(
    body: bytes, content_type: bytes, query: bytes = b"", chunks: int = 1
) -> tuple[int, bytes]:
    """One request through the middleware in front of an app that echoes what it read."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        got = b""
        while True:
            message = await receive()
            got += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": got})

    size = max(1, len(body) // chunks + 1)
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    incoming: list[Message] = [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "path": "/x",
        "query_string": query,
        "headers": [(b"content-type", content_type)],
    }
    asyncio.run(StorableInput(app)(scope, receive, send))
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body_out


def test_a_json_body_passes_whole_even_in_chunks() -> None:
    body = json.dumps({"name": "张三 😀", "emoji": "\U0001f600"}, ensure_ascii=True).encode()
    assert _call(body, b"application/json", chunks=3) == (200, body)


def test_a_lone_surrogate_is_refused_where_it_is() -> None:
    status, out = _call(b'{"a": [1, {"b": "\\ud800"}]}', b"application/json; charset=utf-8")
    assert status == 422
    assert json.loads(out)["detail"][0]["loc"] == ["body", "a", 1, "b"]


def test_a_surrogate_as_raw_bytes_is_refused() -> None:
    status, _out = _call(b'{"a": "\xed\xa0\x80"}', b"application/json")
    assert status == 422


def test_a_nul_in_json_a_form_or_the_address_is_refused() -> None:
    assert _call(b'{"a": "x\\u0000"}', b"application/json")[0] == 422
    assert _call(b"name=a%00b", b"application/x-www-form-urlencoded")[0] == 422
    assert _call(b"", b"text/plain", query=b"q=%00")[0] == 400


def test_other_bodies_and_escaped_backslashes_pass() -> None:
    assert _call(b"\x00\xed\xa0\x80", b"text/csv")[0] == 200
    assert _call(b'{"a": "\\\\ud800"}', b"application/json")[0] == 200  # a backslash, then text
    assert _call(b"{not json \\ud800", b"application/json")[0] == 200  # the route says why
