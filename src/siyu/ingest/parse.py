"""Turning export rows into orders: one order per order id, with its SKU lines.

``OrderParser`` reads row by row and is the reference: every rule is written once, here. The
fast lane (``fastlane``) reads most rows column by column with the same functions and hands this
parser every row it cannot vouch for, so both give the same orders and the same rejects.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from siyu.csvsafe import unquote
from siyu.customers import identifiers as ids
from siyu.ingest import values as v
from siyu.ingest.formats import ExportFormat
from siyu.ingest.reader import OpenedFile, numbered

Key = tuple[str, str, str]
Group = list[tuple[int, list[str], dict[str, str | None]]]  # (line number, cells, fields)


# Free-text columns of the buyer and the store. A rejects file Siyu wrote puts a ``'`` before a
# cell that starts like a formula (``csvsafe``); when the file comes back, fixed, it comes off
# here, as the cells are read (both lanes), so names import as they were exported. Product and
# category titles take it off in their functions; identities, amounts, times, SKUs and order
# ids ignore leading apostrophes anyway.
TEXT_FIELDS = ("name", "address", "province", "city", "store", "store_name")


@dataclass(slots=True)
class ParsedOrder:
    line_no: int
    order_id: str
    keys: list[Key]
    profile: dict[str, Any]
    status: str
    total_fen: int
    paid_fen: int
    refund_fen: int
    ordered_at: str | None  # UTC, as ``bulk.utc_text`` writes it
    paid_at: str | None
    store: tuple[str, str] | None
    lines: list[tuple[str | None, str | None, str | None, int, int]] = field(default_factory=list)
    digest: str = ""


@dataclass(slots=True)
class Reject:
    """Rows that could not be imported (all lines of an order are rejected together)."""

    reason: str
    rows: list[tuple[int, list[str]]]


class RowError(ValueError):
    """Why one row of an export is set aside (its words go to the reject file, beside the
    row). Not a ``Refusal``: the import as a whole goes on, nobody is answered with it, and the
    reject file keeps the words it was written with, in whatever language reads it later."""


class OrderParser:
    """Reads an opened export and yields orders or rejects, in file order."""

    def __init__(
        self,
        fmt: ExportFormat,
        opened: OpenedFile,
        *,
        brand_code: str,
        shop: str,
        tz: ZoneInfo,
    ) -> None:
        self.fmt, self.opened, self.tz = fmt, opened, tz
        self.brand_code, self.shop = brand_code, shop
        self.col = opened.columns
        self.platform = fmt.source
        self.rows_read = 0
        self.broken: dict[int, str] = {}  # line -> why the row there cannot be trusted

        self._items = list(opened.columns.items())
        self.text_fields = [f for f in TEXT_FIELDS if f in opened.columns]
        self.identity_specs = self._identity_specs()

    def fields(self, row: list[str]) -> dict[str, str | None]:
        """The mapped cells of a row, stripped; empty cells are None; free text unquoted (see
        ``TEXT_FIELDS``)."""
        n = len(row)
        out = {name: (row[i].strip() or None) if i < n else None for name, i in self._items}
        for name in self.text_fields:
            value = out[name]
            if value and value[0] == "'":
                out[name] = unquote(value)
        return out

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """The file's non-blank rows with the lines they start on (the header is line 1). A
        row that swallowed others through a quote left open is noted in ``broken``, and
        ``build`` rejects its order (both lanes build such orders here)."""
        for line_no, row, problem in numbered(self.opened):
            if not row or (not row[0].strip() and not any(c.strip() for c in row)):
                continue  # a blank row
            self.rows_read += 1
            if problem is not None:
                self.broken[line_no] = problem
            yield line_no, row

    def __iter__(self) -> Iterator[ParsedOrder | Reject]:
        """The whole file row by row: the reference the fast lane is held to (imports read
        ``records`` through the lane, which calls ``build`` for what it cannot vouch for)."""
        group: Group = []
        group_id: str | None = None
        for line_no, row in self.records():
            fields = self.fields(row)
            order_id = order_id_of(fields.get("order_id"))
            if self.fmt.rows == "order" or order_id != group_id or order_id is None:
                if group:
                    yield self.build(group)
                group, group_id = [], order_id
            group.append((line_no, row, fields))
        if group:
            yield self.build(group)

    def build(self, group: Group) -> ParsedOrder | Reject:
        """One order from its rows (several on exports with a row per SKU line), or a reject."""
        first_line, _first, fields = group[0]
        if self.broken:
            why = [self.broken.pop(n) for n, _row, _f in group if n in self.broken]
            if why:
                return Reject(why[0], [(n, row) for n, row, _f in group])
        try:
            order = self._order(first_line, fields)
            for _line, _row, line_fields in group:
                order.lines.append(self._line(line_fields, order, len(group)))
            order.digest = digest([row for _n, row, _f in group], order.keys)
            return order
        except (RowError, v.BadValue) as exc:
            return Reject(str(exc), [(n, row) for n, row, _f in group])

    def _order(self, line_no: int, f: dict[str, str | None]) -> ParsedOrder:
        order_id = order_id_of(f.get("order_id"))
        if order_id is None:
            raise RowError("order id is empty")
        if len(order_id) > 100:
            raise RowError("order id longer than 100 characters")
        if rounded_by_excel(order_id):
            raise RowError(
                "order id rounded by Excel (scientific notation lost digits); "
                "export the column as text"
            )
        keys, profile = self._identity(f)
        status = self.status(f.get("status"))
        paid = v.fen(f.get("amount"), field="amount")
        total = v.optional_fen(f.get("total"), field="total")
        refund = v.optional_fen(f.get("refund"), field="refund") or 0
        ordered_at = v.local_time_text(f.get("ordered_at"), self.tz, field="ordered_at")
        paid_at = v.local_time_text(f.get("paid_at"), self.tz, field="paid_at")
        status, refund, paid_at = settle(
            self.platform, status, paid, refund, ordered_at, paid_at, f.get("after_sale")
        )
        return ParsedOrder(
            line_no,
            order_id,
            keys,
            profile,
            status,
            total if total is not None else paid,
            paid,
            refund,
            ordered_at,
            paid_at,
            store_of(f.get("store"), f.get("store_name")),
        )

    def status(self, raw: str | None) -> str:
        """The Siyu status of an export's status cell (POS and csv files may leave it out)."""
        if raw is None:
            return "completed" if self.fmt.source in ("pos", "csv") else _missing("status")
        status = self.fmt.statuses.get(raw) or self.fmt.statuses.get(raw.lower())
        if status is None:
            raise RowError(f"unknown order status {raw!r}")
        return status

    def _identity_specs(self) -> list[tuple[str, str, str | None, Any]]:
        """(field, kind, namespace or None for per-row shop, normaliser) for mapped fields."""
        buyer_ns = (
            None if ("shop" in self.col and not self.shop) else f"{self.platform}:{self.shop}"
        )
        specs = [
            ("member_id", ids.Kind.member_id.value, self.brand_code),
            ("phone", ids.Kind.phone.value, ""),
            ("buyer_id", ids.Kind.buyer_id.value, buyer_ns),
            ("unionid", ids.Kind.unionid.value, "wechat"),
            ("email", ids.Kind.email.value, ""),
        ]
        return [(f, k, ns, ids.NORMALISERS[ids.Kind(k)]) for f, k, ns in specs if f in self.col]

    def _identity(self, f: dict[str, str | None]) -> tuple[list[Key], dict[str, Any]]:
        keys: list[Key] = []
        problems: list[str] = []
        for field_name, kind, ns, normalise in self.identity_specs:
            raw = f.get(field_name)
            if raw is None:
                continue
            try:
                value = normalise(raw)
            except ids.Rejected as exc:
                problems.append(f"{field_name}: {exc}")
                continue
            keys.append(
                (kind, ns if ns is not None else f"{self.platform}:{f.get('shop') or ''}", value)
            )
        if not keys:
            detail = "; ".join(problems) if problems else "no phone, member or buyer id given"
            raise RowError(f"no usable customer identity ({detail})")
        return keys, profile_of(
            self.platform, f.get("name"), f.get("address"), f.get("province"), f.get("city")
        )

    def _line(self, f: dict[str, str | None], order: ParsedOrder, n_lines: int) -> tuple[Any, ...]:
        qty = v.quantity(f.get("quantity"))
        amount = line_amount(
            v.optional_fen(f.get("line_amount"), field="line_amount"),
            v.optional_fen(f.get("unit_price"), field="unit_price"),
            qty,
            order.paid_fen,
            n_lines,
        )
        product = f.get("product")
        category = category_of(f.get("category"))
        return (sku_of(f.get("sku")), product_of(product), category, qty, amount)


# -- the rules both lanes share ------------------------------------------------------------------
def settle(
    platform: str,
    status: str,
    paid: int,
    refund: int,
    ordered_at: str | None,
    paid_at: str | None,
    after_sale: str | None,
) -> tuple[str, int, str | None]:
    """An order's final (status, refund, paid time) from what the export says about payment,
    refunds and after-sales; RowError when the row contradicts itself."""
    if paid_at is None and ordered_at is None:
        raise RowError("neither paid time nor order time is given")
    if status in ("paid", "shipped", "completed") and paid_at is None:
        paid_at = ordered_at
    if after_sale in ("退款成功", "已退款", "退货退款成功"):
        status = "refunded"
    if paid < 0:
        if status not in ("refunded", "completed"):
            raise RowError("negative amount on an order that is not a refund")
        status, refund = "refunded", -paid
    elif refund > 0 and status not in ("pending",):
        status = "refunded" if refund >= paid else "partially_refunded"
    elif status == "cancelled" and paid_at is not None and platform in ("taobao", "tmall"):
        # 交易关闭 after payment is a full refund on Taobao.
        status, refund = "refunded", paid
    return status, refund, paid_at


def profile_of(
    platform: str,
    name: str | None,
    address: str | None,
    province: str | None,
    city: str | None,
) -> dict[str, Any]:
    """What an order tells about its buyer: the name unless masked, province and city."""
    from_address = v.province_city(address)
    return {
        "name": name if name and "*" not in name and len(name) <= 50 else None,
        "province": v.short_place(province) or from_address[0],
        "city": v.short_place(city) or from_address[1],
        "source": platform,
    }


def store_of(code: str | None, name: str | None) -> tuple[str, str] | None:
    if not code and not name:
        return None
    return (code or name or "", name or code or "")


def line_amount(
    amount: int | None, unit: int | None, qty: int, order_paid: int, n_lines: int
) -> int:
    """A line's amount: as exported, else unit price × quantity, else the whole order's."""
    if amount is not None:
        return amount
    if unit is not None:
        return unit * qty
    if n_lines == 1:
        return order_paid
    raise RowError("a multi-line order needs a line amount or unit price per line")


def sku_of(raw: str | None) -> str | None:
    """A SKU code as the brand wrote it: Excel's leading ' and trailing .0 taken off."""
    if raw is None:
        return None
    sku = raw.lstrip("'")
    if sku.endswith(".0") and sku[:-2].isdigit():
        sku = sku[:-2]
    return sku[:100]


def product_of(raw: str | None) -> str | None:
    """A product title (free text: see ``TEXT_FIELDS``)."""
    raw = unquote(raw)
    return raw[:300] if raw else None


def category_of(raw: str | None) -> str | None:
    return unquote(raw)


def _missing(name: str) -> str:
    raise RowError(f"{name} is empty")


def order_id_of(raw: str | None) -> str | None:
    """The order id in a cell: Excel's ``'``/``="…"`` wrapping and a trailing ``.0`` taken off."""
    if raw is None:
        return None
    raw = raw.lstrip("'=\"").rstrip('"')
    if raw.endswith(".0") and raw[:-2].isdigit():
        raw = raw[:-2]
    return raw or None


_SCIENTIFIC = re.compile(r"\d(\.\d+)?[eE]\+\d+")


def rounded_by_excel(order_id: str) -> bool:
    """An order id in scientific notation (``3.12346E+18``): Excel kept 15 digits of a longer
    number, so different orders would look the same."""
    return "+" in order_id and _SCIENTIFIC.fullmatch(order_id) is not None


def digest(rows: list[list[str]], keys: list[Key]) -> str:
    """A fingerprint of the order's rows as exported: a re-import of the same rows is
    'unchanged' without comparing field by field."""
    cells = "\x1f".join(rows[0]) if len(rows) == 1 else "\x1e".join("\x1f".join(r) for r in rows)
    text = cells + repr(keys)
    if "\x00" in text:
        raise RowError("row contains a NUL character (damaged file?)")
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
