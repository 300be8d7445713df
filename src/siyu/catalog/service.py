"""Products as orders name them; found by (brand, SKU) and created on first sight."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from siyu import clock
from siyu.catalog.models import Product
from siyu.db import table_of


class ProductCache:
    """SKU → product id for one brand, loaded once per import and extended as SKUs appear."""

    def __init__(self, brand_id: int) -> None:
        self.brand_id = brand_id
        self._ids: dict[str, tuple[int, str | None]] = {}
        self._loaded = False

    def ensure(
        self, conn: Connection, items: Iterable[tuple[str, str | None, str | None, int | None]]
    ) -> None:
        """Create the SKUs not seen yet: (sku, name, category, unit price fen)."""
        t = table_of(Product)
        if not self._loaded:
            rows = conn.execute(
                sa.select(t.c.sku, t.c.id, t.c.category).where(t.c.brand_id == self.brand_id)
            )
            self._ids = {sku: (pid, cat) for sku, pid, cat in rows}
            self._loaded = True
        new: dict[str, dict[str, object]] = {}
        for sku, name, category, price in items:
            if sku not in self._ids and sku not in new:
                new[sku] = {
                    "brand_id": self.brand_id,
                    "sku": sku,
                    "name": (name or sku)[:300],
                    "category": category,
                    "price_fen": price,
                    "created_at": clock.now(),
                }
        if new:
            conn.execute(t.insert(), list(new.values()))
            rows = conn.execute(
                sa.select(t.c.sku, t.c.id, t.c.category).where(
                    t.c.brand_id == self.brand_id, t.c.sku.in_(list(new))
                )
            )
            for sku, pid, cat in rows:
                self._ids[sku] = (pid, cat)

    def lookup(self, sku: str | None) -> tuple[int | None, str | None]:
        if sku is None:
            return None, None
        return self._ids.get(sku, (None, None))
