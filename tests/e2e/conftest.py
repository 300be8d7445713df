from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient


@pytest.fixture()
def client() -> Iterator[TestClient]:
    from siyu.app import create_app

    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


@pytest.fixture()
def api_key() -> str:
    from siyu.accounts.service import create_api_key
    from siyu.db import session_scope

    with session_scope() as s:
        _key, secret = create_api_key(s, "test", ["events:write", "customers:read"])
    return secret


def make_user(username: str, role: str, store_code: str | None = None) -> None:
    import sqlalchemy as sa

    from siyu.accounts.service import create_user
    from siyu.brands.models import Brand, Store
    from siyu.config import get_settings
    from siyu.db import session_scope

    with session_scope() as s:
        store_id = None
        if store_code:
            brand = s.scalar(sa.select(Brand).where(Brand.code == "b1"))
            if brand is None:
                brand = Brand(code="b1", name="品牌一")
                s.add(brand)
                s.flush()
            store = s.scalar(sa.select(Store).where(Store.code == store_code))
            if store is None:
                store = Store(brand_id=brand.id, code=store_code, name=f"门店{store_code}")
                s.add(store)
                s.flush()
            store_id = store.id
        create_user(s, get_settings(), username, "correct-horse-battery", role, store_id=store_id)


def login(client: TestClient, username: str, password: str = "correct-horse-battery") -> str:
    r = client.post(
        "/login", data={"username": username, "password": password, "next": "/customers"}
    )
    assert r.status_code == 303, r.text
    page = client.get("/customers")
    import re

    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m
    return m.group(1)


def declared(client: TestClient, method: str, path: str) -> set[int]:
    """The statuses the API document (/api/openapi.json) declares for one operation, so a test
    that sees an answer can also hold that clients were told of it."""
    document = client.get("/api/openapi.json").json()
    return {int(status) for status in document["paths"][path][method.lower()]["responses"]}
