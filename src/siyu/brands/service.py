"""Brands and stores: found or created by code, so imports and the console agree on them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from siyu import clock
from siyu.brands.models import Brand, Store
from siyu.db import table_of
from siyu.refusals import Conflict, Refusal

DEFAULT_BRAND = "default"


class BrandError(Refusal):
    """A brand that cannot be used or added as named; the message says why."""


class BrandExists(BrandError, Conflict):
    """A brand with the code exists already."""


def resolve_brand(conn: Connection, code: str | None) -> tuple[int, str]:
    """The brand to import into: the one named, else the only one there is, else `default`."""
    t = table_of(Brand)
    if code:
        row = conn.execute(sa.select(t.c.id, t.c.code).where(t.c.code == code)).first()
        if row is None:
            raise BrandError(
                "no brand with code {code!r}; create it with `siyu brands add`", code=code
            )
        return row[0], row[1]
    rows = conn.execute(sa.select(t.c.id, t.c.code).order_by(t.c.id).limit(2)).all()
    if len(rows) == 1:
        return rows[0][0], rows[0][1]
    if len(rows) > 1:
        raise BrandError("several brands exist; say which with --brand CODE")
    result = conn.execute(
        t.insert().values(code=DEFAULT_BRAND, name="默认品牌", created_at=clock.now())
    )
    return int(result.inserted_primary_key[0]), DEFAULT_BRAND  # type: ignore[index]


def brand_id_of(session: Session, code: str) -> int:
    """The id of the brand with this code (a refusal names the code when there is none)."""
    found = session.scalar(sa.select(Brand.id).where(Brand.code == code))
    if found is None:
        raise BrandError("no brand with code {code!r}; create it with `siyu brands add`", code=code)
    return int(found)


def brand_code_of(session: Session, brand_id: int) -> str:
    return str(session.scalar(sa.select(Brand.code).where(Brand.id == brand_id)))


def store_id_of(session: Session, code: str, brand_id: int | None = None) -> int | None:
    """The id of the store with this code (in the brand, when given); None when there is none.
    A code two brands share needs the brand: the refusal says so."""
    where = [Store.code == code[:64]]
    if brand_id is not None:
        where.append(Store.brand_id == brand_id)
    found = list(session.scalars(sa.select(Store.id).where(*where).limit(2)))
    if len(found) > 1:
        raise BrandError("several brands have a store {code!r}; name the brand too", code=code)
    return int(found[0]) if found else None


_STORE_BY_CODE = (
    sa.select(Store.__table__.c.id, Store.__table__.c.brand_id)
    .where(Store.__table__.c.code == sa.bindparam("code"))
    .limit(2)
)  # built once: a till asks this on every redeem


def store_and_brand(
    session: Session, code: str, brand: str | None = None
) -> tuple[int, int] | None:
    """(store id, brand id) of the store with this code (in the brand of code ``brand``, when
    given); None when there is none (a code two brands share needs the brand)."""
    if brand is not None:
        where = [Store.code == code[:64], Store.brand_id == brand_id_of(session, brand)]
        found = session.execute(sa.select(Store.id, Store.brand_id).where(*where).limit(2)).all()
    else:
        found = session.connection().execute(_STORE_BY_CODE, {"code": code[:64]}).all()
    if len(found) > 1:
        raise BrandError("several brands have a store {code!r}; name the brand too", code=code)
    return (int(found[0][0]), int(found[0][1])) if found else None


def add_brand(session: Session, code: str, name: str) -> Brand:
    if session.scalar(sa.select(Brand).where(Brand.code == code)):
        raise BrandExists("brand {code!r} already exists", code=code)
    brand = Brand(code=code, name=name)
    session.add(brand)
    session.flush()
    return brand


class StoreCache:
    """Stores by (brand, code), created the first time an import names them."""

    def __init__(self) -> None:
        self._ids: dict[tuple[int, str], int] = {}

    def get(self, conn: Connection, brand_id: int, code: str, name: str) -> int:
        key = (brand_id, code[:64])
        if key not in self._ids:
            t = table_of(Store)
            found = conn.execute(
                sa.select(t.c.id).where(t.c.brand_id == brand_id, t.c.code == key[1])
            ).scalar()
            if found is None:
                found = conn.execute(
                    t.insert().values(
                        brand_id=brand_id, code=key[1], name=name[:200], created_at=clock.now()
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
            self._ids[key] = int(found)
        return self._ids[key]
