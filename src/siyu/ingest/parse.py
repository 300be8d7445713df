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

    def _get(self, row: list[str], name: str) -> str | None:
        i = self.col.get(name)
        if i is None or i >= len(row):
            return None
        value = row[i].strip()
        return value or None

    def __iter__(self) -> Iterator[ParsedOrder | Reject]:
        group: list[tuple[int, list[str]]] = []
        group_id: str | None = None
        line_no = 1
        for row in self.opened.rows:
            line_no += 1
            if not row or not any(c.strip() for c in row):
                continue
            self.rows_read += 1
            order_id = self._order_id(row)
            if self.fmt.rows == "order" or order_id != group_id or order_id is None:
                if group:
                    yield self._build(group)
                group, group_id = [], order_id
            group.append((line_no, row))
        if group:
            yield self._build(group)

    def _order_id(self, row: list[str]) -> str | None:
        raw = self._get(row, "order_id")
        if raw is None:
            return None
        raw = raw.lstrip("'=\"").rstrip('"')
        if raw.endswith(".0") and raw[:-2].isdigit():
            raw = raw[:-2]
        return raw or None

    def _build(self, group: list[tuple[int, list[str]]]) -> ParsedOrder | Reject:
        first_line, first = group[0]
        try:
            order = self._order(first_line, first)
            for _line, row in group:
                order.lines.append(self._line(row, order, len(group)))
            order.digest = _digest(order)
            return order
        except (RowError, v.BadValue) as exc:
            return Reject(str(exc), group)

    def _order(self, line_no: int, row: list[str]) -> ParsedOrder:
        get = self._get
        order_id = self._order_id(row)
        if order_id is None:
            raise RowError("order id is empty")
        if len(order_id) > 100:
            raise RowError("order id longer than 100 characters")
        keys, profile = self._identity(row)
        status = self._status(row)
        paid = v.fen(get(row, "amount"), field="amount")
        total = v.optional_fen(get(row, "total"), field="total")
        refund = v.optional_fen(get(row, "refund"), field="refund") or 0
        ordered_at = v.local_time(get(row, "ordered_at"), self.tz, field="ordered_at")
        paid_at = v.local_time(get(row, "paid_at"), self.tz, field="paid_at")
        if paid_at is None and ordered_at is None:
            raise RowError("neither paid time nor order time is given")
        if status in ("paid", "shipped", "completed") and paid_at is None:
            paid_at = ordered_at
        after_sale = get(row, "after_sale")
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
        store = self._store(row)
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

    def _status(self, row: list[str]) -> str:
        raw = self._get(row, "status")
        if raw is None:
            return "completed" if self.fmt.source in ("pos", "csv") else _missing("status")
        status = self.fmt.statuses.get(raw) or self.fmt.statuses.get(raw.lower())
        if status is None:
            raise RowError(f"unknown order status {raw!r}")
        return status

    def _store(self, row: list[str]) -> tuple[str, str] | None:
        code = self._get(row, "store")
        name = self._get(row, "store_name")
        if not code and not name:
            return None
        return (code or name or "", name or code or "")

    def _identity(self, row: list[str]) -> tuple[list[Key], dict[str, Any]]:
        get = self._get
        keys: list[Key] = []
        problems: list[str] = []
        for field_name, kind, ns in (
            ("member_id", ids.Kind.member_id, self.brand_code),
            ("phone", ids.Kind.phone, ""),
            ("buyer_id", ids.Kind.buyer_id, f"{self.platform}:{self._shop(row)}"),
            ("unionid", ids.Kind.unionid, "wechat"),
            ("email", ids.Kind.email, ""),
        ):
            raw = get(row, field_name)
            if raw is None:
                continue
            try:
                keys.append((kind.value, ns, ids.normalise(kind, raw)))
            except ids.Rejected as exc:
                problems.append(f"{field_name}: {exc}")
        if not keys:
            detail = "; ".join(problems) if problems else "no phone, member or buyer id given"
            raise RowError(f"no usable customer identity ({detail})")
        name = get(row, "name")
        province, city = v.province_city(get(row, "address"))
        profile = {
            "name": name if name and "*" not in name and len(name) <= 50 else None,
            "province": v.short_place(get(row, "province")) or province,
            "city": v.short_place(get(row, "city")) or city,
            "source": self.platform,
        }
        return keys, profile

    def _shop(self, row: list[str]) -> str:
        return self.shop or self._get(row, "shop") or ""

    def _line(self, row: list[str], order: ParsedOrder, n_lines: int) -> tuple[Any, ...]:
        get = self._get
        qty = v.quantity(get(row, "quantity"))
        amount = v.optional_fen(get(row, "line_amount"), field="line_amount")
        if amount is None:
            unit = v.optional_fen(get(row, "unit_price"), field="unit_price")
            if unit is not None:
                amount = unit * qty
            elif n_lines == 1:
                amount = order.paid_fen
            else:
                raise RowError("a multi-line order needs a line amount or unit price per line")
        sku = get(row, "sku")
        if sku is not None:
            sku = sku.lstrip("'")
            if sku.endswith(".0") and sku[:-2].isdigit():
                sku = sku[:-2]
            sku = sku[:100]
        product = get(row, "product")
        return (sku, product[:300] if product else None, get(row, "category"), qty, amount)


def _missing(name: str) -> str:
    raise RowError(f"{name} is empty")


def _digest(order: ParsedOrder) -> str:
    text = repr(
        (
            order.keys,
            order.status,
            order.total_fen,
            order.paid_fen,
            order.refund_fen,
            order.ordered_at,
            order.paid_at,
            order.store,
            order.lines,
        )
    )
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
