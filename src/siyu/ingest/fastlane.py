"""The fast lane of order parsing: a block of export rows read column by column.

Most rows of a platform export are regular: every cell readable, an order on one row or on
consecutive rows (one per SKU line). Read a column at a time, each value is normalised once per
distinct value — statuses, prices, buyer ids, phones, SKUs and product titles repeat across a
shop's orders — by the row parser's own functions, and the common time shape is shifted to UTC
without building aware datetimes.

An order the lane cannot vouch for — a short or long row, a value a function refuses, no usable
identity, a NUL character — goes to ``OrderParser.build``, the reference, which makes the order
or the reject with its reason. So the lanes agree by construction (the same functions, the same
shared rules in ``parse``) and a test holds them to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from siyu.csvsafe import unquote
from siyu.customers.identifiers import Rejected
from siyu.ingest import values as v
from siyu.ingest.parse import (
    Key,
    OrderParser,
    ParsedOrder,
    Reject,
    RowError,
    category_of,
    digest,
    line_amount,
    order_id_of,
    product_of,
    profile_of,
    rounded_by_excel,
    settle,
    sku_of,
    store_of,
)

Record = tuple[int, list[str]]  # (line number, cells)
Table = list[tuple[str, ...]]  # a block's cells column by column (at least one row and column)
_BAD: Any = object()  # a cell some function refused: the row takes the reference lane
_MEMO_LIMIT = 200_000  # distinct values remembered per column, so memory stays flat


class FastLane:
    """Parses blocks of records in file order, most of them a column at a time."""

    def __init__(self, parser: OrderParser) -> None:
        self.parser = parser
        self.width = len(parser.opened.header)
        self._memo: dict[str, dict[str, Any]] = {}

    # -- blocks ----------------------------------------------------------------------------
    def ready(self, block: list[Record]) -> tuple[list[Record], list[Record]]:
        """(rows that can be parsed now, rows held for the next block): on exports with a row
        per SKU line, the last order's rows may go on in the next block."""
        if self.parser.fmt.rows == "order" or not block:
            return block, []
        last = self._order_id(block[-1][1])
        cut = len(block)
        while last is not None and cut > 0 and self._order_id(block[cut - 1][1]) == last:
            cut -= 1
        return block[:cut], block[cut:]

    def orders(self, block: Sequence[Record]) -> list[ParsedOrder | Reject]:
        """The block's orders and rejects, in file order."""
        groups = self._groups(block)
        out: list[ParsedOrder | Reject | None] = [None] * len(groups)
        fast: list[int] = []
        width = self.width
        broken = self.parser.broken  # rows run together by an open quote: the parser rejects
        for g, group in enumerate(groups):
            full = (
                len(group[0][1]) == width
                if len(group) == 1
                else all(len(row) == width for _n, row in group)
            )
            if broken and any(n in broken for n, _row in group):
                full = False
            if full:
                fast.append(g)
            else:
                out[g] = self._reference(group)
        for g, parsed in zip(fast, self._columns([groups[g] for g in fast]), strict=True):
            out[g] = parsed if parsed is not None else self._reference(groups[g])
        return [o for o in out if o is not None]

    def _groups(self, block: Sequence[Record]) -> list[list[Record]]:
        if self.parser.fmt.rows == "order":
            return [[r] for r in block]
        groups: list[list[Record]] = []
        current: str | None = None
        for record in block:
            oid = self._order_id(record[1])
            if groups and oid is not None and oid == current:
                groups[-1].append(record)
            else:
                groups.append([record])
            current = oid
        return groups

    def _order_id(self, row: list[str]) -> str | None:
        i = self.parser.col["order_id"]
        return order_id_of(row[i].strip() or None) if i < len(row) else None

    def _reference(self, group: list[Record]) -> ParsedOrder | Reject:
        p = self.parser
        return p.build([(n, row, p.fields(row)) for n, row in group])

    # -- columns ---------------------------------------------------------------------------
    def _cells(self, name: str, table: Table) -> list[str | None]:
        """A column's cells, stripped; empty cells are None (as ``OrderParser.fields``)."""
        i = self.parser.col.get(name)
        if i is None:
            return [None] * len(table[0])
        return [cell.strip() or None for cell in table[i]]

    def _texts(self, name: str, table: Table) -> list[str | None]:
        """A free-text column's cells (``_cells``), unquoted as ``OrderParser.fields`` does;
        cell by cell only when the block's column has an apostrophe at all."""
        cells = self._cells(name, table)
        i = self.parser.col.get(name)
        if i is not None and "'" in "".join(table[i]):
            cells = [unquote(c) for c in cells]
        return cells

    def _mapped(self, name: str, table: Table, fn: Callable[[str | None], Any]) -> list[Any]:
        """``fn`` of each stripped cell of a column, called once per distinct value (each
        column has one function, so the column names the memo)."""
        i = self.parser.col.get(name)
        if i is None:
            return [_guarded(fn, None)] * len(table[0])
        memo = self._memo.setdefault(name, {})
        if len(memo) > _MEMO_LIMIT:
            memo.clear()
        cells = table[i]
        for raw in set(cells).difference(memo):
            memo[raw] = _guarded(fn, raw.strip() or None)
        return list(map(memo.__getitem__, cells))

    def _times(self, name: str, table: Table) -> list[str | None]:
        tz, out = self.parser.tz, []
        for cell in self._cells(name, table):
            try:
                out.append(v.local_time_text(cell, tz, field=name))
            except v.BadValue:
                out.append(_BAD)
        return out

    def _keys(self, table: Table) -> list[list[Key]]:
        p = self.parser
        keys: list[list[Key]] = [[] for _ in table[0]]
        shops = self._cells("shop", table)
        for field_name, kind, ns, normalise in p.identity_specs:
            column = self._mapped(field_name, table, _when_given(normalise))
            for found, value, shop in zip(keys, column, shops, strict=True):
                if value is not None and value is not _BAD:
                    found.append(
                        (kind, ns if ns is not None else f"{p.platform}:{shop or ''}", value)
                    )
        return keys

    def _columns(self, groups: list[list[Record]]) -> list[ParsedOrder | None]:
        """Orders read column-wise (order fields from an order's first row, a line from each
        row); None where an order needs the reference lane."""
        records = [record for group in groups for record in group]
        if not records:
            return []
        p = self.parser
        table = list(zip(*(row for _n, row in records), strict=True))  # column by column
        oid = [order_id_of(c) for c in self._cells("order_id", table)]
        keys = self._keys(table)
        status = self._mapped("status", table, p.status)
        fen = self._mapped("amount", table, lambda c: v.fen(c, field="amount"))
        total = self._mapped("total", table, lambda c: v.optional_fen(c, field="total"))
        refund = self._mapped("refund", table, lambda c: v.optional_fen(c, field="refund"))
        ordered_at = self._times("ordered_at", table)
        paid_at = self._times("paid_at", table)
        after_sale = self._cells("after_sale", table)
        qty = self._mapped("quantity", table, v.quantity)
        line_fen = self._mapped(
            "line_amount", table, lambda c: v.optional_fen(c, field="line_amount")
        )
        unit = self._mapped("unit_price", table, lambda c: v.optional_fen(c, field="unit_price"))
        sku = self._mapped("sku", table, sku_of)
        product = self._mapped("product", table, product_of)
        category = self._mapped("category", table, category_of)
        name, address = self._texts("name", table), self._texts("address", table)
        province, city = self._texts("province", table), self._texts("city", table)
        store, store_name = self._texts("store", table), self._texts("store_name", table)
        firsts = [0] * len(groups)  # each order's first row
        i = 0
        for g, group in enumerate(groups):
            firsts[g], i = i, i + len(group)

        def heads(column: list[Any]) -> list[Any]:
            return column if len(firsts) == len(records) else [column[k] for k in firsts]

        out: list[ParsedOrder | None] = []
        # who: the buyer's name, address, province, city; then the store's code and name
        for group, first, order_id, keys_, st, paid, tot, ref, o_at, p_at, after, *who in zip(
            groups,
            firsts,
            heads(oid),
            heads(keys),
            heads(status),
            heads(fen),
            heads(total),
            heads(refund),
            heads(ordered_at),
            heads(paid_at),
            heads(after_sale),
            heads(name),
            heads(address),
            heads(province),
            heads(city),
            heads(store),
            heads(store_name),
            strict=True,
        ):
            if (
                order_id is None
                or len(order_id) > 100
                or rounded_by_excel(order_id)
                or not keys_
                or _BAD in (st, paid, tot, ref, o_at, p_at)
            ):
                out.append(None)
                continue
            n = len(group)
            try:
                lines = []
                for j in range(first, first + n):
                    if _BAD in (qty[j], line_fen[j], unit[j]):
                        raise RowError("a line for the reference lane")
                    amount = line_amount(line_fen[j], unit[j], qty[j], paid, n)
                    lines.append((sku[j], product[j], category[j], qty[j], amount))
                st, ref, p_at = settle(p.platform, st, paid, ref or 0, o_at, p_at, after)
                fingerprint = digest([row for _n, row in group], keys_)
            except RowError:
                out.append(None)
                continue
            out.append(
                ParsedOrder(
                    group[0][0],
                    order_id,
                    keys_,
                    profile_of(p.platform, *who[:4]),
                    st,
                    tot if tot is not None else paid,
                    paid,
                    ref,
                    o_at,
                    p_at,
                    store_of(*who[4:]),
                    lines,
                    fingerprint,
                )
            )
        return out


def _when_given(normalise: Callable[[str], str]) -> Callable[[str | None], str | None]:
    """An identity normaliser for a column: an empty cell gives no identity, not a refusal."""

    def call(cell: str | None) -> str | None:
        return None if cell is None else normalise(cell)

    return call


def _guarded(fn: Callable[[str | None], Any], cell: str | None) -> Any:
    try:
        return fn(cell)
    except (v.BadValue, RowError, Rejected):
        return _BAD
