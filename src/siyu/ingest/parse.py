"""Turning export rows into orders: one order per order id, with its SKU lines."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from siyu.customers import identifiers as ids
from siyu.ingest import values as v
from siyu.ingest.formats import ExportFormat
from siyu.ingest.reader import OpenedFile

Key = tuple[str, str, str]


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
    ordered_at: datetime | None
    paid_at: datetime | None
    store: tuple[str, str] | None
    lines: list[tuple[str | None, str | None, str | None, int, int]] = field(default_factory=list)
    digest: str = ""


@dataclass(slots=True)
class Reject:
    """Rows that could not be imported (all lines of an order are rejected together)."""

    reason: str
    rows: list[tuple[int, list[str]]]


class RowError(ValueError):
    pass


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

        self._items = list(opened.columns.items())
        self._specs = self._identity_specs()

    def _fields(self, row: list[str]) -> dict[str, str | None]:
        """The mapped cells of a row, stripped; empty cells are None."""
        n = len(row)
        return {name: (row[i].strip() or None) if i < n else None for name, i in self._items}

    def __iter__(self) -> Iterator[ParsedOrder | Reject]:
        group: list[tuple[int, list[str], dict[str, str | None]]] = []
        group_id: str | None = None
        line_no = 1
        for row in self.opened.rows:
            line_no += 1
            if not row or not any(c.strip() for c in row):
                continue
            self.rows_read += 1
            fields = self._fields(row)
            order_id = _order_id(fields.get("order_id"))
            if self.fmt.rows == "order" or order_id != group_id or order_id is None:
                if group:
                    yield self._build(group)
                group, group_id = [], order_id
            group.append((line_no, row, fields))
        if group:
            yield self._build(group)

    def _build(
        self, group: list[tuple[int, list[str], dict[str, str | None]]]
    ) -> ParsedOrder | Reject:
        first_line, _first, fields = group[0]
        try:
            order = self._order(first_line, fields)
            for _line, _row, line_fields in group:
                order.lines.append(self._line(line_fields, order, len(group)))
            order.digest = _digest(group, order.keys)
            return order
        except (RowError, v.BadValue) as exc:
            return Reject(str(exc), [(n, row) for n, row, _f in group])

    def _order(self, line_no: int, f: dict[str, str | None]) -> ParsedOrder:
        order_id = _order_id(f.get("order_id"))
        if order_id is None:
            raise RowError("order id is empty")
        if len(order_id) > 100:
            raise RowError("order id longer than 100 characters")
        keys, profile = self._identity(f)
        status = self._status(f)
        paid = v.fen(f.get("amount"), field="amount")
        total = v.optional_fen(f.get("total"), field="total")
        refund = v.optional_fen(f.get("refund"), field="refund") or 0
        ordered_at = v.local_time(f.get("ordered_at"), self.tz, field="ordered_at")
        paid_at = v.local_time(f.get("paid_at"), self.tz, field="paid_at")
        if paid_at is None and ordered_at is None:
            raise RowError("neither paid time nor order time is given")
        if status in ("paid", "shipped", "completed") and paid_at is None:
            paid_at = ordered_at
        after_sale = f.get("after_sale")
        if after_sale in ("退款成功", "已退款", "退货退款成功"):
            status = "refunded"
        if paid < 0:
            if status not in ("refunded", "completed"):
                raise RowError("negative amount on an order that is not a refund")
            status, refund = "refunded", -paid
        elif refund > 0 and status not in ("pending",):
            status = "refunded" if refund >= paid else "partially_refunded"
        elif (
            status == "cancelled" and paid_at is not None and self.fmt.source in ("taobao", "tmall")
        ):
            # 交易关闭 after payment is a full refund on Taobao.
            status, refund = "refunded", paid
        store = self._store(f)
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
            store,
        )

    def _status(self, f: dict[str, str | None]) -> str:
        raw = f.get("status")
        if raw is None:
            return "completed" if self.fmt.source in ("pos", "csv") else _missing("status")
        status = self.fmt.statuses.get(raw) or self.fmt.statuses.get(raw.lower())
        if status is None:
            raise RowError(f"unknown order status {raw!r}")
        return status

    def _store(self, f: dict[str, str | None]) -> tuple[str, str] | None:
        code = f.get("store")
        name = f.get("store_name")
        if not code and not name:
            return None
        return (code or name or "", name or code or "")

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
        for field_name, kind, ns, normalise in self._specs:
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
        name = f.get("name")
        province, city = v.province_city(f.get("address"))
        profile = {
            "name": name if name and "*" not in name and len(name) <= 50 else None,
            "province": v.short_place(f.get("province")) or province,
            "city": v.short_place(f.get("city")) or city,
            "source": self.platform,
        }
        return keys, profile

    def _line(self, f: dict[str, str | None], order: ParsedOrder, n_lines: int) -> tuple[Any, ...]:
        qty = v.quantity(f.get("quantity"))
        amount = v.optional_fen(f.get("line_amount"), field="line_amount")
        if amount is None:
            unit = v.optional_fen(f.get("unit_price"), field="unit_price")
            if unit is not None:
                amount = unit * qty
            elif n_lines == 1:
                amount = order.paid_fen
            else:
                raise RowError("a multi-line order needs a line amount or unit price per line")
        sku = f.get("sku")
        if sku is not None:
            sku = sku.lstrip("'")
            if sku.endswith(".0") and sku[:-2].isdigit():
                sku = sku[:-2]
            sku = sku[:100]
        product = f.get("product")
        return (sku, product[:300] if product else None, f.get("category"), qty, amount)


def _missing(name: str) -> str:
    raise RowError(f"{name} is empty")


def _order_id(raw: str | None) -> str | None:
    if raw is None:
        return None
    raw = raw.lstrip("'=\"").rstrip('"')
    if raw.endswith(".0") and raw[:-2].isdigit():
        raw = raw[:-2]
    return raw or None


def _digest(group: list[tuple[int, list[str], dict[str, str | None]]], keys: list[Key]) -> str:
    """A fingerprint of the order's rows as exported: a re-import of the same rows is
    'unchanged' without comparing field by field."""
    text = "\x1e".join("\x1f".join(row) for _n, row, _f in group) + repr(keys)
    if "\x00" in text:
        raise RowError("row contains a NUL character (damaged file?)")
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
