"""Order import: platform export → customers, identities, orders and lines, batch by batch.

Each batch commits on its own (transactional per batch). Re-running the same file is the way
to resume after an interruption: orders already stored are recognised by (platform, shop,
order id) and their digest, and come out as unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from siyu.brands.service import StoreCache
from siyu.bulk import db_time, insert_rows, rows_where_in
from siyu.catalog.service import ProductCache
from siyu.config import Settings
from siyu.customers.resolution import IdPool, Resolver
from siyu.db import table_of, utcnow, write_transaction
from siyu.ingest.formats import get_format
from siyu.ingest.parse import ParsedOrder
from siyu.ingest.pipeline import ParseFailed, ParseJob, batches
from siyu.ingest.reader import ImportFileError, load_mapping
from siyu.ingest.runs import (
    ImportSummary,
    Progress,
    begin_import,
    checkpoint,
    end_import,
    stopped,
)
from siyu.orders.models import Order, OrderLine

ORDER = table_of(Order)
LINE = table_of(OrderLine)
ORDER_COLUMNS = (
    "id",
    "brand_id",
    "platform",
    "shop",
    "platform_order_id",
    "customer_id",
    "identity_id",
    "store_id",
    "status",
    "total_fen",
    "paid_fen",
    "refund_fen",
    "ordered_at",
    "paid_at",
    "digest",
    "import_run_id",
    "created_at",
    "updated_at",
)
LINE_COLUMNS = (
    "order_id",
    "line_no",
    "product_id",
    "sku",
    "product_name",
    "category",
    "quantity",
    "amount_fen",
)


def import_orders(
    engine: Engine,
    settings: Settings,
    path: Path,
    source: str,
    *,
    actor: str,
    brand: str | None = None,
    shop: str = "",
    mapping_path: Path | None = None,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import an order export. Raises ImportFileError when nothing can be imported at all."""
    fmt = get_format("orders", source)
    mapping = load_mapping(mapping_path)
    start = begin_import(
        engine, settings, fmt, path, mapping, actor=actor, brand=brand, rejects_path=rejects_path
    )
    start.opened.close()  # the parser opens the file again, possibly in another process
    summary, rejects = start.summary, start.rejects
    batch = _Batch(engine, settings, summary, start.brand_id, source, shop, actor)
    job = ParseJob(
        path, source, mapping, start.brand_code, shop, settings.timezone, settings.import_batch_rows
    )
    try:
        for parsed in batches(job):
            for reject in parsed.rejects:
                summary.rejected[reject.reason] += len(reject.rows)
                for line_no, row in reject.rows:
                    rejects.add(line_no, reject.reason, row)
            summary.read, summary.bytes_read = parsed.rows_read, parsed.bytes_read
            batch.write(parsed.orders)
            if progress:
                progress(parsed.bytes_read, parsed.rows_read)
    except ParseFailed as exc:
        stopped(summary, exc)
    finally:
        end_import(engine, start)
    return summary


class _Batch:
    """Writes one batch of parsed orders in one transaction."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        summary: ImportSummary,
        brand_id: int,
        platform: str,
        shop: str,
        actor: str,
    ) -> None:
        self.engine, self.settings, self.summary = engine, settings, summary
        self.brand_id, self.platform, self.shop, self.actor = brand_id, platform, shop, actor
        self.products = ProductCache(brand_id)
        self.stores = StoreCache()
        self.secret = settings.secret_key_bytes()

    def write(self, orders: Sequence[ParsedOrder]) -> None:
        if not orders:
            return
        orders = _last_wins(orders)
        with write_transaction(self.engine) as conn:
            checkpoint(conn, self.summary)
            existing = self._existing(conn, orders)
            fresh = [o for o in orders if o.order_id not in existing]
            changed = [
                o for o in orders if o.order_id in existing and existing[o.order_id][1] != o.digest
            ]
            self.summary.unchanged += len(orders) - len(fresh) - len(changed)
            self.products.ensure(
                conn,
                (
                    (sku, name, cat, amount // qty if qty else None)
                    for o in fresh + changed
                    for sku, name, cat, qty, amount in o.lines
                    if sku
                ),
            )
            resolver = Resolver(conn, self.platform, self.secret, self.actor)
            resolver.prefetch(k for o in fresh for k in o.keys)
            links = []
            for o in fresh:
                res = resolver.resolve(o.keys, o.profile, o.paid_at or o.ordered_at)
                links.append((res.customer_id, res.primary_identity()))
            resolver.flush()
            self._insert(conn, fresh, links, resolver)
            self._update(conn, changed, existing)
            s, r = self.summary, resolver.stats
            s.inserted += len(fresh)
            s.updated += len(changed)
            s.customers_created += r.customers_created
            s.merges += r.merges
            s.conflicts += r.conflicts
            s.suppressed += r.suppressed
            s.batches += 1

    def _existing(
        self, conn: Connection, orders: Sequence[ParsedOrder]
    ) -> dict[str, tuple[int, str]]:
        found: dict[str, tuple[int, str]] = {}
        rows = rows_where_in(
            conn,
            'SELECT platform_order_id, id, digest FROM "order"'
            " WHERE platform = ? AND shop = ? AND platform_order_id IN ({in})",
            (self.platform, self.shop),
            [o.order_id for o in orders],
        )
        for oid, pk, digest in rows:
            found[oid] = (pk, digest)
        return found

    def _store_id(self, conn: Connection, o: ParsedOrder) -> int | None:
        if o.store is None:
            return None
        return self.stores.get(conn, self.brand_id, *o.store)

    def _lines(self, order_pk: int, o: ParsedOrder) -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        for n, (sku, name, category, qty, amount) in enumerate(o.lines, 1):
            product_id, product_category = self.products.lookup(sku)
            rows.append(
                (order_pk, n, product_id, sku, name, category or product_category, qty, amount)
            )
        return rows

    def _insert(
        self,
        conn: Connection,
        fresh: Sequence[ParsedOrder],
        links: list[tuple[int, int | None]],
        resolver: Resolver,
    ) -> None:
        pool = IdPool(conn, ORDER, block=max(len(fresh), 1))
        now = db_time(conn, utcnow())
        order_rows, line_rows = [], []
        for o, (customer_id, identity_id) in zip(fresh, links, strict=True):
            pk = pool.take()
            order_rows.append(
                (
                    pk,
                    self.brand_id,
                    self.platform,
                    self.shop,
                    o.order_id,
                    resolver.customer_for(customer_id),
                    identity_id,
                    self._store_id(conn, o),
                    o.status,
                    o.total_fen,
                    o.paid_fen,
                    o.refund_fen,
                    db_time(conn, o.ordered_at),
                    db_time(conn, o.paid_at),
                    o.digest,
                    self.summary.run_id,
                    now,
                    now,
                )
            )
            line_rows.extend(self._lines(pk, o))
        insert_rows(conn, ORDER, ORDER_COLUMNS, order_rows)
        insert_rows(conn, LINE, LINE_COLUMNS, line_rows)

    def _update(
        self, conn: Connection, changed: Sequence[ParsedOrder], existing: dict[str, tuple[int, str]]
    ) -> None:
        if not changed:
            return
        now = utcnow()
        pks = [existing[o.order_id][0] for o in changed]
        conn.execute(
            ORDER.update()
            .where(ORDER.c.id == sa.bindparam("pk"))
            .values(
                status=sa.bindparam("status"),
                total_fen=sa.bindparam("total_fen"),
                paid_fen=sa.bindparam("paid_fen"),
                refund_fen=sa.bindparam("refund_fen"),
                ordered_at=sa.bindparam("ordered_at"),
                paid_at=sa.bindparam("paid_at"),
                store_id=sa.bindparam("store_id"),
                digest=sa.bindparam("digest"),
                import_run_id=self.summary.run_id,
                updated_at=now,
            ),
            [
                {
                    "pk": pk,
                    "status": o.status,
                    "total_fen": o.total_fen,
                    "paid_fen": o.paid_fen,
                    "refund_fen": o.refund_fen,
                    "ordered_at": o.ordered_at,
                    "paid_at": o.paid_at,
                    "store_id": self._store_id(conn, o),
                    "digest": o.digest,
                }
                for pk, o in zip(pks, changed, strict=True)
            ],
        )
        conn.execute(LINE.delete().where(LINE.c.order_id.in_(pks)))
        insert_rows(
            conn,
            LINE,
            LINE_COLUMNS,
            [r for pk, o in zip(pks, changed, strict=True) for r in self._lines(pk, o)],
        )


def _last_wins(orders: Sequence[ParsedOrder]) -> list[ParsedOrder]:
    """An order id seen twice in one batch: the later row is the newer state."""
    by_id: dict[str, ParsedOrder] = {}
    for o in orders:
        by_id[o.order_id] = o
    return list(by_id.values()) if len(by_id) != len(orders) else list(orders)


__all__ = ["ImportFileError", "import_orders"]
