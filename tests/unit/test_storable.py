"""Text that cannot be stored is refused at the door: NUL anywhere, half surrogate pairs in JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message

from siyu.storable import StorableInput, unstorable_json
from siyu.untrusted import storable_text


def test_storable_text() -> None:
    assert storable_text("plain")
    assert storable_text("张三 😀")
    assert not storable_text("a\ud800b")
    assert not storable_text("\udfff")


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"a": "x"}', None),
        (json.dumps({"a": ["\U0001f600", {"b": "\u5f20"}]}).encode(), None),  # pairs, escaped
        ('{"a": "张三 😀"}'.encode(), None),
        (b'{"a": ["ok", {"b": "x\\ud800"}]}', "surrogate"),
        (b'{"a": "\\udc00\\ud800"}', "surrogate"),  # both halves, the wrong way round
        (b'{"a": "\\ud800\\\\udc00"}', "surrogate"),  # the low half is text, not an escape
        (b'{"a": "\\\\ud800"}', None),  # a backslash, then the letters ud800
        (b'{"a": "\\\\\\ud800"}', "surrogate"),  # a backslash, then an escape
        (b'{"a": "\\\\\\ud83d\\ude00"}', None),  # a backslash, then a whole pair
        (b'{"a": "\\ud83d\\\\ude00"}', "surrogate"),  # a half, a backslash, the letters
        (b'{"a": "\\\\\\\\\\u0000"}', "nul"),  # two backslashes, then a NUL
        (b'{"a\\u0000": 1}', "nul"),
        (b'{"a": "\\\\u0000"}', None),
        (b'{"a": "\xed\xa0\x80"}', "encoding"),  # a surrogate's UTF-8 bytes
        ('{"name": "x"}'.encode("utf-16"), "encoding"),
        ('{"name": "x"}'.encode("utf-32-le"), "encoding"),
        (b"{not json \\ud800", "surrogate"),
    ],
)
def test_unstorable_json(body: bytes, why: str | None) -> None:
    assert unstorable_json(body) == why


def test_a_big_body_of_pairs_passes_and_one_lone_half_at_its_end_is_found() -> None:
    pairs = json.dumps([0] * 65_000 + ["\U0001f600"] * 20_000).encode()
    assert unstorable_json(pairs) is None
    assert unstorable_json(pairs[:-1] + b', "\\udbff"]') == "surrogate"


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


def test_a_lone_surrogate_is_refused() -> None:
    status, out = _call(b'{"a": [1, {"b": "\\ud800"}]}', b"application/json; charset=utf-8")
    assert status == 422 and json.loads(out)["detail"][0]["type"] == "surrogate"


@pytest.mark.parametrize("ending", [b"", b"\x85", b"\xa0", b" ", b"\t"])
def test_the_media_type_is_read_as_the_framework_reads_it(ending: bytes) -> None:
    assert _call(b'{"a": "\\u0000"}', b"Application/JSON" + ending)[0] == 422
    assert _call(b"a=%00", b"application/x-www-form-urlencoded" + ending)[0] == 422


def test_json_in_another_encoding_is_refused() -> None:
    assert _call('{"a": "x"}'.encode("utf-16"), b"application/json")[0] == 400
    assert _call(b'{"a": "\xed\xa0\x80"}', b"application/json")[0] == 400


def test_multipart_is_for_the_upload_only() -> None:
    assert _call(b"--B--", b"multipart/form-data; boundary=B")[0] == 415


def test_a_nul_in_json_a_form_or_the_address_is_refused() -> None:
    assert _call(b'{"a": "x\\u0000"}', b"application/json")[0] == 422
    status, page = _call(b"name=a%00b", b"application/x-www-form-urlencoded")
    assert status == 422 and "无法保存" in page.decode()  # a console form: words, not JSON
    assert _call(b"", b"text/plain", query=b"q=%00")[0] == 400


def test_other_bodies_and_escaped_backslashes_pass() -> None:
    assert _call(b"\x00\xed\xa0\x80", b"text/csv")[0] == 200
    assert _call(b'{"a": "\\\\ud800"}', b"application/json")[0] == 200  # a backslash, then text
    assert _call(b"{not json", b"application/json")[0] == 200  # the route says why
