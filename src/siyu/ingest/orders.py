"""Order import: platform export → customers, identities, orders and lines, batch by batch.

Each batch commits on its own (transactional per batch). Re-running the same file is the way
to resume after an interruption: orders already stored are recognised by (platform, shop,
order id) and their digest, and come out as unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from siyu import clock
from siyu.brands.service import StoreCache
from siyu.bulk import (
    collector_paused,
    db_time,
    from_utc_text,
    insert_rows,
    rows_where_in,
    stored_time,
)
from siyu.catalog.service import ProductCache
from siyu.config import Settings
from siyu.customers.resolution import IdPool, Resolver
from siyu.db import table_of, write_transaction
from siyu.ingest.columns import OrderColumns
from siyu.ingest.formats import get_format
from siyu.ingest.pipeline import ParseFailed, ParseJob, batches
from siyu.ingest.reader import ImportFileError, load_mapping
from siyu.ingest.service import (
    ImportSummary,
    Progress,
    begin_import,
    checkpoint,
    end_import,
    readable,
    stopped,
)
from siyu.orders.models import Order, OrderLine
from siyu.reactions import Topic, publish_parts

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
    mapping: dict[str, str] | None = None,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    file_name: str | None = None,
    run_id: int | None = None,
) -> ImportSummary:
    """Import an order export (CSV, or an .xlsx/.xls workbook). Raises ImportFileError when
    nothing can be imported at all. ``file_name`` and ``run_id``: an upload's original name and
    the run queued for it."""
    fmt = get_format("orders", source)
    mapping = mapping if mapping is not None else load_mapping(mapping_path)
    with readable(settings, path) as (file, workbook):
        start = begin_import(
            engine,
            settings,
            fmt,
            file,
            mapping,
            actor=actor,
            brand=brand,
            rejects_path=rejects_path,
            named=path,
            workbook=workbook,
            file_name=file_name,
            run_id=run_id,
        )
        start.opened.close()  # the parser opens the file again, possibly in another process
        summary, rejects = start.summary, start.rejects
        batch = OrderWriter(engine, settings, summary, start.brand_id, source, shop, actor)
        job = ParseJob(
            file,
            source,
            mapping,
            start.brand_code,
            shop,
            settings.timezone,
            settings.import_batch_rows,
        )
        try:
            with collector_paused():
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


class OrderWriter:
    """Writes one batch of parsed orders in one transaction (an import's batch, or one order
    the orders API was pushed)."""

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
        self.run_id = summary.run_id or None  # none for an order the API was pushed
        self.products = ProductCache(brand_id)
        self.stores = StoreCache()
        self.secret = settings.secret_key_bytes()

    def write(self, batch: OrderColumns) -> None:
        if not len(batch):
            return
        batch = batch.last_wins()
        with write_transaction(self.engine) as conn:
            checkpoint(conn, self.summary)
            existing = self._existing(conn, batch.order_id)
            fresh = batch.pick([i for i, oid in enumerate(batch.order_id) if oid not in existing])
            changed = batch.pick(
                [
                    i
                    for i, oid in enumerate(batch.order_id)
                    if oid in existing and existing[oid][1] != batch.digest[i]
                ]
            )
            self.summary.unchanged += len(batch) - len(fresh) - len(changed)
            self.products.ensure(
                conn,
                (
                    (sku, name, cat, amount // qty if qty else None)
                    for part in (fresh, changed)
                    for sku, name, cat, qty, amount in part.all_lines()
                    if sku
                ),
            )
            resolver = Resolver(conn, self.platform, self.secret, self.actor)
            resolver.prefetch(k for keys in fresh.keys for k in keys)
            customers, identities = [], []
            for i, keys in enumerate(fresh.keys):
                seen = stored_time(conn, fresh.paid_at[i] or fresh.ordered_at[i])
                res = resolver.resolve(keys, fresh.profile(i, self.platform), seen)
                customers.append(res.customer_id)
                identities.append(res.primary_identity())
            resolver.flush()
            written = self._insert(
                conn, fresh, [resolver.customer_for(c) for c in customers], identities
            )
            written += self._update(conn, changed, existing)
            publish_parts(conn, Topic.order_changed, "orders", written)
            s, r = self.summary, resolver.stats
            s.inserted += len(fresh)
            s.updated += len(changed)
            s.customers_created += r.customers_created
            s.merges += r.merges
            s.conflicts += r.conflicts
            s.suppressed += r.suppressed
            s.batches += 1

    def stored(self, order_id: str) -> tuple[int, int | None, int | None] | None:
        """(id, customer id, store id) of the order as stored, by this writer's platform and
        shop; None when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(ORDER.c.id, ORDER.c.customer_id, ORDER.c.store_id).where(
                    ORDER.c.platform == self.platform,
                    ORDER.c.shop == self.shop,
                    ORDER.c.platform_order_id == order_id,
                )
            ).first()
        return None if row is None else (int(row[0]), row[1], row[2])

    def _existing(self, conn: Connection, order_ids: list[str]) -> dict[str, tuple[int, str]]:
        found: dict[str, tuple[int, str]] = {}
        rows = rows_where_in(
            conn,
            'SELECT platform_order_id, id, digest FROM "order"'
            " WHERE platform = ? AND shop = ? AND platform_order_id IN ({in})",
            (self.platform, self.shop),
            order_ids,
        )
        for oid, pk, digest in rows:
            found[oid] = (pk, digest)
        return found

    def _store_ids(self, conn: Connection, batch: OrderColumns) -> list[int | None]:
        get, brand = self.stores.get, self.brand_id
        return [None if s is None else get(conn, brand, *s) for s in batch.store]

    def _lines(self, pks: Sequence[int], batch: OrderColumns) -> list[tuple[object, ...]]:
        lookup = self.products.lookup
        rows: list[tuple[object, ...]] = []
        for pk, lines in zip(pks, batch.lines, strict=True):
            for n, (sku, name, category, qty, amount) in enumerate(lines, 1):
                product_id, product_category = lookup(sku)
                rows.append(
                    (pk, n, product_id, sku, name, category or product_category, qty, amount)
                )
        return rows

    def _times(self, conn: Connection, texts: list[str | None]) -> list[Any]:
        if conn.dialect.name == "sqlite":
            return texts  # already in the stored form
        return [stored_time(conn, t) for t in texts]

    def _insert(
        self,
        conn: Connection,
        fresh: OrderColumns,
        customers: list[int],
        identities: list[int | None],
    ) -> list[int]:
        if not len(fresh):
            return []
        pks = IdPool(conn, ORDER, block=len(fresh)).take_many(len(fresh))
        now = db_time(conn, clock.now())
        n = len(fresh)

        def same(value: object) -> repeat[object]:
            return repeat(value, n)

        order_rows = list(
            zip(
                pks,
                same(self.brand_id),
                same(self.platform),
                same(self.shop),
                fresh.order_id,
                customers,
                identities,
                self._store_ids(conn, fresh),
                fresh.status,
                fresh.total_fen,
                fresh.paid_fen,
                fresh.refund_fen,
                self._times(conn, fresh.ordered_at),
                self._times(conn, fresh.paid_at),
                fresh.digest,
                same(self.run_id),
                same(now),
                same(now),
                strict=True,
            )
        )
        insert_rows(conn, ORDER, ORDER_COLUMNS, order_rows)
        insert_rows(conn, LINE, LINE_COLUMNS, self._lines(pks, fresh))
        return list(pks)

    def _update(
        self, conn: Connection, changed: OrderColumns, existing: dict[str, tuple[int, str]]
    ) -> list[int]:
        if not len(changed):
            return []
        now = clock.now()
        pks = [existing[oid][0] for oid in changed.order_id]
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
                import_run_id=self.run_id,
                updated_at=now,
            ),
            [
                {
                    "pk": pk,
                    "status": changed.status[i],
                    "total_fen": changed.total_fen[i],
                    "paid_fen": changed.paid_fen[i],
                    "refund_fen": changed.refund_fen[i],
                    "ordered_at": from_utc_text(changed.ordered_at[i]),
                    "paid_at": from_utc_text(changed.paid_at[i]),
                    "store_id": store_id,
                    "digest": changed.digest[i],
                }
                for i, (pk, store_id) in enumerate(
                    zip(pks, self._store_ids(conn, changed), strict=True)
                )
            ],
        )
        conn.execute(LINE.delete().where(LINE.c.order_id.in_(pks)))
        insert_rows(conn, LINE, LINE_COLUMNS, self._lines(pks, changed))
        return pks


__all__ = ["ImportFileError", "import_orders"]
