"""Events at the edges: times from before online shops (a sender's clock or unit bug) and
values JSON does not have (NaN, Infinity) are refused with a 422 naming the field, before
anything is stored; a NUL or a NaN nested deep is found as surely as one on top."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

BASE = '{"type":"track","messageId":"%s","event":"x","traits":{"phone":"13812340001"}%s}'


def _post(client: TestClient, key: str, body: str) -> Any:
    return client.post(
        "/api/v1/events",
        content=body.encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


def _stored() -> int:
    from siyu.db import session_scope
    from siyu.events.models import Event

    with session_scope() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Event)) or 0


@pytest.mark.parametrize(
    ("extra", "loc", "said"),
    [
        (',"properties":{"v":NaN}', ["body", "properties"], "properties.v: NaN"),
        (',"properties":{"v":[1,Infinity]}', ["body", "properties"], "properties.v[1]: NaN"),
        (',"properties":{"n":1e400}', ["body", "properties"], "properties.n: NaN"),
        (',"context":{"page":{"t":-Infinity}}', ["body", "context"], "context.page.t: NaN"),
        (',"traits":{"phone":"13812340001","score":NaN}', ["body", "traits"], "traits.score"),
        (',"properties":' + '{"a":' * 40 + "NaN" + "}" * 40, ["body", "properties"], "NaN"),
        (',"properties":' + '{"a":' * 40 + '"x\\u0000"' + "}" * 40, ["body", "properties"], "NUL"),
        (',"timestamp":"0001-01-01T00:00:00+08:00"', ["body", "timestamp"], "before 2000-01-01"),
        (',"timestamp":"0001-01-01T00:00:00-08:00"', ["body", "timestamp"], "before 2000-01-01"),
        (',"timestamp":"1970-01-01T00:00:00Z"', ["body", "timestamp"], "SIYU_EVENTS_EARLIEST"),
        (',"timestamp":"1999-12-31T23:59:59Z"', ["body", "timestamp"], "before 2000-01-01"),
        (',"timestamp":"2000-01-01T07:59:59+08:00"', ["body", "timestamp"], "before 2000-01-01"),
        (',"timestamp":"9999-12-31T23:59:59-08:00"', ["body", "batch", 0], "in the future"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_refused_with_the_field_named(client, api_key, extra, loc, said) -> None:  # type: ignore[no-untyped-def]
    r = _post(client, api_key, BASE % ("m1", extra))
    assert r.status_code == 422, r.text
    first = r.json()["detail"][0]
    assert first["loc"] == loc and said in first["msg"], first
    assert _stored() == 0


def test_in_a_batch_the_index_is_named_and_nothing_is_stored(client, api_key) -> None:  # type: ignore[no-untyped-def]
    good = BASE % ("b1", "")
    bad = BASE % ("b2", ',"properties":{"v":NaN}')
    r = _post(client, api_key, f'{{"batch":[{good},{bad}]}}')
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "batch", 1, "properties"]
    assert _stored() == 0


def test_the_first_moment_allowed_and_ordinary_numbers_pass(client, api_key) -> None:  # type: ignore[no-untyped-def]
    ok = [
        ',"timestamp":"2000-01-01T00:00:00Z"',
        ',"timestamp":"2000-01-01T08:00:00+08:00"',
        ',"properties":{"v":1.5,"n":-0.0,"big":1e300,"list":[1,2.5],"s":"NaN"}',
    ]
    for i, extra in enumerate(ok):
        r = _post(client, api_key, BASE % (f"ok{i}", extra))
        assert r.status_code == 200, r.text
    assert _stored() == len(ok)


def test_the_floor_is_a_setting(client, api_key, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from siyu.config import reset_settings

    monkeypatch.setenv("SIYU_EVENTS_EARLIEST", "2024-01-01")
    reset_settings()
    old = _post(client, api_key, BASE % ("s1", ',"timestamp":"2023-12-31T23:00:00Z"'))
    assert old.status_code == 422 and "before 2024-01-01" in old.json()["detail"][0]["msg"]
    new = _post(client, api_key, BASE % ("s2", ',"timestamp":"2024-01-01T00:00:00Z"'))
    assert new.status_code == 200
