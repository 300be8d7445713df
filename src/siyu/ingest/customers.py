"""Customer (member) list import: profiles, identities, do-not-disturb and — only with
evidence — consent.

Consent is granted from a file only where it has an explicit consent column *and* evidence
(DESIGN §4); a platform buyer list never makes anyone marketable by itself. A grant without its
own time (``consent_at``) never replaces a withdrawal: the file may be older than the "no".
A do-not-disturb column sets it; the file clears only a do-not-disturb an import set, never the
customer's own or one staff recorded. An ``openid`` belongs to one official account: the row's
``oa_appid`` column names it, else ``--oa-appid``, else the configured account (SIYU_OA_APPID).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from siyu import clock
from siyu.accounts.models import AuditLog
from siyu.brands.service import StoreCache
from siyu.bulk import chunks
from siyu.config import Settings
from siyu.customers.changes import touch_customers
from siyu.customers.models import Consent, Customer
from siyu.customers.resolution import Resolver
from siyu.db import table_of, write_transaction
from siyu.ingest.formats import ExportFormat, get_format
from siyu.ingest.members import MemberRow, openid_appid, read_members
from siyu.ingest.reader import load_mapping
from siyu.ingest.service import (
    ImportStart,
    ImportSummary,
    Progress,
    begin_import,
    checkpoint,
    end_import,
    readable,
    stopped,
)


def import_customers(
    engine: Engine,
    settings: Settings,
    path: Path,
    source: str,
    *,
    actor: str,
    brand: str | None = None,
    mapping_path: Path | None = None,
    mapping: dict[str, str] | None = None,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    file_name: str | None = None,
    run_id: int | None = None,
    oa_appid: str | None = None,
) -> ImportSummary:
    """Import a customer list (CSV, or an .xlsx/.xls workbook); see ``import_orders``."""
    fmt = get_format("customers", source)
    mapping = mapping if mapping is not None else load_mapping(mapping_path)
    default_appid = openid_appid(oa_appid, settings)
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
        return _import(engine, settings, fmt, start, actor, source, progress, default_appid)


def _import(
    engine: Engine,
    settings: Settings,
    fmt: ExportFormat,
    start: ImportStart,
    actor: str,
    source: str,
    progress: Progress | None,
    default_appid: str,
) -> ImportSummary:
    opened, summary, rejects, brand_id = start.opened, start.summary, start.rejects, start.brand_id
    stores = StoreCache()
    secret = settings.secret_key_bytes()
    pending: list[MemberRow] = []
    raw = opened.stream.buffer  # type: ignore[attr-defined]

    def flush() -> None:
        if not pending:
            return
        with write_transaction(engine) as conn:
            checkpoint(conn, summary)
            _write(conn, pending, summary, secret, actor, source, brand_id, stores)
        pending.clear()

    try:
        for item in read_members(
            opened, fmt, start.brand_code, settings.tz, summary, default_appid
        ):
            if isinstance(item, tuple):
                line_no, reason, row = item
                summary.rejected[reason] += 1
                rejects.add(line_no, reason, row)
                continue
            pending.append(item)
            if len(pending) >= settings.import_batch_rows:
                summary.bytes_read = raw.tell()
                flush()
                if progress:
                    progress(raw.tell(), summary.read)
        flush()
    except (UnicodeDecodeError, csv.Error) as exc:
        stopped(summary, exc)
    finally:
        opened.close()
        end_import(engine, start)
    return summary


def _write(
    conn: Connection,
    rows: Sequence[MemberRow],
    summary: ImportSummary,
    secret: bytes,
    actor: str,
    source: str,
    brand_id: int,
    stores: StoreCache,
) -> None:
    resolver = Resolver(conn, source, secret, actor)
    resolver.prefetch(k for r in rows for k in r.keys)
    results = []
    for r in rows:
        if r.store is not None:
            r.profile["store_id"] = stores.get(conn, brand_id, *r.store)
        res = resolver.resolve(r.keys, r.profile, r.registered_at or clock.now())
        results.append(res)
    resolver.flush()
    c = table_of(Customer)
    existing_ids = [resolver.customer_for(res.customer_id) for res in results if not res.created]
    current = {
        row.id: row
        for part in chunks(existing_ids, 5000)
        for row in conn.execute(
            sa.select(c.c.id, *[c.c[f] for f in FILL_FIELDS]).where(c.c.id.in_(part))
        )
    }
    fills = []
    for r, res in zip(rows, results, strict=True):
        if res.created:
            summary.inserted += 1
            continue
        pk = resolver.customer_for(res.customer_id)
        now_row = current.get(pk)
        if now_row is not None and any(
            getattr(now_row, f) is None and r.profile.get(f) is not None for f in FILL_FIELDS
        ):
            summary.updated += 1
            fills.append({"pk": pk, **_blank_fill(r.profile)})
        else:
            summary.unchanged += 1
    if fills:
        conn.execute(
            c.update()
            .where(c.c.id == sa.bindparam("pk"))
            .values(
                {
                    f: sa.func.coalesce(c.c[f], sa.bindparam(f"v_{f}", type_=c.c[f].type))
                    for f in FILL_FIELDS
                }
            ),
            fills,
        )
    summary.do_not_disturb += _do_not_disturb(
        conn,
        {
            resolver.customer_for(res.customer_id): r.do_not_disturb
            for r, res in zip(rows, results, strict=True)
        },
        source,
        actor,
        summary.run_id,
    )
    for r, res in zip(rows, results, strict=True):
        if res.suppressed:
            continue
        for channel, address, granted, evidence, at in r.consents:
            summary.consents += _record_consent(
                conn,
                resolver.customer_for(res.customer_id),
                brand_id,
                channel,
                address,
                granted,
                f"import:{source}",
                evidence,
                at,
            )
    st = resolver.stats
    summary.customers_created += st.customers_created
    summary.merges += st.merges
    summary.conflicts += st.conflicts
    summary.suppressed += st.suppressed
    summary.batches += 1


FILL_FIELDS = ("name", "gender", "birthday", "province", "city", "store_id")


def _blank_fill(profile: dict[str, Any]) -> dict[str, Any]:
    return {f"v_{f}": profile.get(f) for f in FILL_FIELDS}


def _do_not_disturb(
    conn: Connection, said: dict[int, bool | None], source: str, actor: str, run_id: int
) -> int:
    """Set do-not-disturb where the file says yes (a customer on several rows: yes wins); clear
    it where the file says no, only if an import set it. Returns the customers changed."""
    on = sorted(c for c, flag in said.items() if flag)
    off = sorted(c for c, flag in said.items() if flag is False)
    if not on and not off:
        return 0
    c = table_of(Customer)
    now = clock.now()
    mark = {
        "do_not_disturb_source": "import",
        "do_not_disturb_reason": f"import:{source}"[:200],
        "do_not_disturb_by": actor[:100],
        "do_not_disturb_at": now,
        "updated_at": now,
    }
    changed = {True: 0, False: 0}
    for part in chunks(on, 5000):
        result = conn.execute(
            c.update()
            .where(c.c.id.in_(part), c.c.do_not_disturb.is_(False))
            .values(do_not_disturb=True, **mark)
        )
        changed[True] += int(result.rowcount or 0)
    for part in chunks(off, 5000):
        result = conn.execute(
            c.update()
            .where(
                c.c.id.in_(part),
                c.c.do_not_disturb.is_(True),
                c.c.do_not_disturb_source == "import",
            )
            .values(do_not_disturb=False, **mark)
        )
        changed[False] += int(result.rowcount or 0)
    if changed[True] or changed[False]:
        conn.execute(
            table_of(AuditLog)
            .insert()
            .values(
                at=now,
                actor=actor[:100],
                action="customer.do_not_disturb",
                target_type="import_run",
                target_id=str(run_id),
                details={"on": changed[True], "off": changed[False], "source": "import"},
            )
        )
    return changed[True] + changed[False]


def _record_consent(
    conn: Connection,
    customer_id: int,
    brand_id: int,
    channel: str,
    address: str,
    granted: bool,
    source: str,
    evidence: str | None,
    said_at: datetime | None,
) -> int:
    """Upsert one marketing consent; a newer statement wins, so a later withdrawal stands. A
    grant without its own time (``said_at``) is as old as the file, which may predate a
    withdrawal: it never replaces one. A time ahead of the clock counts as now."""
    now = clock.now()
    at = min(said_at, now) if said_at else now
    t = table_of(Consent)
    touch_customers(conn, [customer_id])  # the copy re-reads its consents (customers.changes)
    key = (
        t.c.brand_id == brand_id,
        t.c.channel == channel,
        t.c.purpose == "marketing",
        t.c.address == address,
    )
    row = conn.execute(sa.select(t.c.id, t.c.status, t.c.recorded_at).where(*key)).first()
    status = "granted" if granted else "withdrawn"
    if row is None:
        conn.execute(
            t.insert().values(
                customer_id=customer_id,
                brand_id=brand_id,
                channel=channel,
                purpose="marketing",
                address=address,
                status=status,
                source=source,
                evidence=evidence,
                recorded_at=at,
            )
        )
        return 1
    if row.status == status or row.recorded_at >= at:
        return 0
    if granted and said_at is None:
        return 0  # an undated yes does not undo a recorded no
    conn.execute(
        t.update()
        .where(t.c.id == row.id)
        .values(status=status, source=source, evidence=evidence, recorded_at=at)
    )
    return 1
