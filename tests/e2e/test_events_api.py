"""POST /api/v1/events over HTTP, in process."""

from __future__ import annotations

import sqlalchemy as sa

from siyu.events.models import Event

EV = {
    "type": "track",
    "messageId": "m-1",
    "event": "浏览商品",
    "traits": {"phone": "13812340001"},
    "properties": {"sku": "SK-1"},
    "timestamp": "2026-06-18T10:00:00+08:00",
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_requires_a_key_with_the_right_scope(client) -> None:  # type: ignore[no-untyped-def]
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    assert client.post("/api/v1/events", json=EV).status_code == 401
    assert client.post("/api/v1/events", json=EV, headers=auth("sy_nope_nope")).status_code == 401
    with session_scope() as s:
        _k, read_only = create_api_key(s, "ro", ["customers:read"])
    assert client.post("/api/v1/events", json=EV, headers=auth(read_only)).status_code == 403


def test_single_batch_and_replay(client, api_key, session) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/events", json=EV, headers=auth(api_key))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    cid = r.json()["results"][0]["customerId"]
    batch = {
        "batch": [
            EV,
            {
                **EV,
                "messageId": "m-2",
                "type": "identify",
                "event": None,
                "userId": "M1",
                "traits": {"phone": "13812340001", "city": "上海"},
            },
        ]
    }
    r = client.post("/api/v1/events", json=batch, headers=auth(api_key))
    body = r.json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert {x["customerId"] for x in body["results"]} == {cid}
    again = client.post("/api/v1/events", json=batch, headers=auth(api_key)).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == 2
    occurred = session.scalar(sa.select(Event.occurred_at).where(Event.message_id == "m-1"))
    assert occurred.isoformat() == "2026-06-18T02:00:00+00:00"


def test_bad_input_gets_precise_4xx(client, api_key, session) -> None:  # type: ignore[no-untyped-def]
    h = auth(api_key)
    cases = [
        (
            client.post(
                "/api/v1/events",
                content=b"{not json",
                headers={**h, "content-type": "application/json"},
            ),
            422,
        ),
        (client.post("/api/v1/events", json={**EV, "type": "page"}, headers=h), 422),
        (
            client.post(
                "/api/v1/events", json={k: v for k, v in EV.items() if k != "messageId"}, headers=h
            ),
            422,
        ),
        (
            client.post(
                "/api/v1/events", json={**EV, "traits": {"phone": "138****0001"}}, headers=h
            ),
            422,
        ),
        (
            client.post(
                "/api/v1/events", json={**EV, "timestamp": "2099-01-01T00:00:00+08:00"}, headers=h
            ),
            422,
        ),
        (
            client.post(
                "/api/v1/events", json={**EV, "timestamp": "2026-01-01T00:00:00"}, headers=h
            ),
            422,
        ),
        (client.post("/api/v1/events", json={**EV, "event": None}, headers=h), 422),
        (client.post("/api/v1/events", json={"batch": []}, headers=h), 422),
        (client.post("/api/v1/events", json={"batch": [EV] * 1001}, headers=h), 413),
        (client.post("/api/v1/events", json={"batch": [EV, EV]}, headers=h), 422),
        (client.post("/api/v1/events", json={**EV, "messageId": "a\u0000b"}, headers=h), 422),
        (
            client.post("/api/v1/events", json={**EV, "properties": {"k": ["x\u0000"]}}, headers=h),
            422,
        ),
        (
            client.post(
                "/api/v1/events",
                content=b"x" * (3 * 1024 * 1024),
                headers={**h, "content-type": "application/json"},
            ),
            413,
        ),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
    masked = client.post(
        "/api/v1/events", json={**EV, "traits": {"phone": "138****0001"}}, headers=h
    ).json()
    assert "masked" in str(masked["detail"])
    assert session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_openapi_is_served(client) -> None:  # type: ignore[no-untyped-def]
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/events" in spec["paths"]
    assert client.get("/api/docs").status_code == 200
