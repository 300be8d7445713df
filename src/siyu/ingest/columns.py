"""A batch of parsed orders as one list per field: what the parser hands the writer.

A few long lists of strings and numbers cross between processes several times faster than the
same orders as nested objects, and the writer turns them into executemany rows with ``zip``
instead of per-order code. Times are UTC text in the stored form (``bulk.utc_text``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from siyu.ingest.parse import Key, ParsedOrder

Line = tuple[str | None, str | None, str | None, int, int]  # sku, product, category, qty, fen


@dataclass(slots=True)
class OrderColumns:
    order_id: list[str] = field(default_factory=list)
    keys: list[list[Key]] = field(default_factory=list)
    name: list[str | None] = field(default_factory=list)
    province: list[str | None] = field(default_factory=list)
    city: list[str | None] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    total_fen: list[int] = field(default_factory=list)
    paid_fen: list[int] = field(default_factory=list)
    refund_fen: list[int] = field(default_factory=list)
    ordered_at: list[str | None] = field(default_factory=list)
    paid_at: list[str | None] = field(default_factory=list)
    store: list[tuple[str, str] | None] = field(default_factory=list)
    digest: list[str] = field(default_factory=list)
    lines: list[list[Line]] = field(default_factory=list)

    @classmethod
    def of(cls, orders: Sequence[ParsedOrder]) -> OrderColumns:
        c = cls()
        for o in orders:
            c.order_id.append(o.order_id)
            c.keys.append(o.keys)
            c.name.append(o.profile["name"])
            c.province.append(o.profile["province"])
            c.city.append(o.profile["city"])
            c.status.append(o.status)
            c.total_fen.append(o.total_fen)
            c.paid_fen.append(o.paid_fen)
            c.refund_fen.append(o.refund_fen)
            c.ordered_at.append(o.ordered_at)
            c.paid_at.append(o.paid_at)
            c.store.append(o.store)
            c.digest.append(o.digest)
            c.lines.append(o.lines)
        return c

    def __len__(self) -> int:
        return len(self.order_id)

    def pick(self, rows: Sequence[int]) -> OrderColumns:
        """The orders at ``rows``, in that order."""
        if len(rows) == len(self) and all(i == n for n, i in enumerate(rows)):
            return self
        return OrderColumns(*([getattr(self, f.name)[i] for i in rows] for f in fields(self)))

    def last_wins(self) -> OrderColumns:
        """An order id seen twice in one batch: the later row is the newer state."""
        last: dict[str, int] = {}
        for i, oid in enumerate(self.order_id):
            last[oid] = i
        if len(last) == len(self):
            return self
        return self.pick(sorted(last.values()))

    def profile(self, i: int, source: str) -> dict[str, Any]:
        return {
            "name": self.name[i],
            "province": self.province[i],
            "city": self.city[i],
            "source": source,
        }

    def all_lines(self) -> Iterator[Line]:
        for lines in self.lines:
            yield from lines
