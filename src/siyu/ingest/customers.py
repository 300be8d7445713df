"""Customer (member) list import: profiles, identities and — only with evidence — consent.

Consent is granted from a file only where it has an explicit consent column *and* evidence
(DESIGN §4); a platform buyer list never makes anyone marketable by itself.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from siyu.brands.service import StoreCache
from siyu.bulk import chunks
from siyu.config import Settings
from siyu.customers import identifiers as ids
from siyu.customers.changes import touch_customers
from siyu.customers.models import Consent, Customer
from siyu.customers.resolution import Resolver
from siyu.db import table_of, utcnow, write_transaction
from siyu.ingest import values as v
from siyu.ingest.formats import ExportFormat, get_format
from siyu.ingest.reader import OpenedFile, load_mapping, numbered
from siyu.ingest.runs import (
    ImportSummary,
    Progress,
    begin_import,
    checkpoint,
    end_import,
    stopped,
)

Key = tuple[str, str, str]


@dataclass
class MemberRow:
    line_no: int
    keys: list[Key]
    profile: dict[str, Any]
    store: tuple[str, str] | None
    registered_at: datetime | None
    consents: list[tuple[str, str, bool, str | None, datetime | None]]  # channel, address, …


def import_customers(
    engine: Engine,
    settings: Settings,
    path: Path,
    source: str,
    *,
    actor: str,
    brand: str | None = None,
    mapping_path: Path | None = None,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    fmt = get_format("customers", source)
    start = begin_import(
        engine,
        settings,
        fmt,
        path,
        load_mapping(mapping_path),
        actor=actor,
        brand=brand,
        rejects_path=rejects_path,
    )
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
        for item in _rows(opened, fmt, start.brand_code, settings.tz, summary):
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


def _rows(
    opened: OpenedFile, fmt: ExportFormat, brand_code: str, tz: ZoneInfo, summary: ImportSummary
) -> Any:
    col = opened.columns

    def get(row: list[str], name: str) -> str | None:
        i = col.get(name)
        if i is None or i >= len(row):
            return None
        return row[i].strip() or None

    for line_no, row, problem in numbered(opened):
        if not any(c.strip() for c in row):
            continue
        summary.read += 1
        if problem is not None:  # rows run together by a quote left open
            yield (line_no, problem, row)
            continue
        if any("\x00" in c for c in row):
            yield (line_no, "row contains a NUL character (damaged file?)", row)
            continue
        try:
            yield _member(row, get, line_no, fmt, brand_code, tz, summary)
        except (ValueError, ids.Rejected) as exc:
            yield (line_no, str(exc), row)


def _member(
    row: list[str],
    get: Any,
    line_no: int,
    fmt: ExportFormat,
    brand_code: str,
    tz: ZoneInfo,
    summary: ImportSummary,
) -> MemberRow:
    keys: list[Key] = []
    problems: list[str] = []
    found: dict[str, str] = {}
    for field_name, kind, ns in (
        ("member_id", ids.Kind.member_id, brand_code),
        ("phone", ids.Kind.phone, ""),
        ("buyer_id", ids.Kind.buyer_id, f"{fmt.source}:"),
        ("unionid", ids.Kind.unionid, "wechat"),
        ("email", ids.Kind.email, ""),
    ):
        raw = get(row, field_name)
        if raw is None:
            continue
        try:
            value = ids.normalise(kind, raw)
        except ids.Rejected as exc:
            problems.append(f"{field_name}: {exc}")
            continue
        keys.append((kind.value, ns, value))
        found[field_name] = value
    if not keys:
        raise ValueError(
            "no usable customer identity (" + ("; ".join(problems) or "no identity given") + ")"
        )
    profile = {
        "name": get(row, "name"),
        "gender": v.gender(get(row, "gender")),
        "birthday": v.birthday(get(row, "birthday")),
        "province": v.short_place(get(row, "province")),
        "city": v.short_place(get(row, "city")),
        "source": fmt.source,
    }
    if profile["name"] and len(profile["name"]) > 100:
        raise ValueError("name longer than 100 characters")
    store_code, store_name = get(row, "store"), get(row, "store_name")
    store = (
        (store_code or store_name, store_name or store_code) if (store_code or store_name) else None
    )
    consents = []
    evidence = get(row, "consent_evidence")
    consent_at = v.local_time(get(row, "consent_at"), tz, field="consent_at")
    for channel, column, address_field in (
        ("sms", "sms_consent", "phone"),
        ("email", "email_consent", "email"),
    ):
        flag = v.consent_flag(get(row, column))
        if flag is None:
            continue
        address = found.get(address_field)
        if address is None:
            summary.warnings[f"{column} given without a usable {address_field}"] += 1
            continue
        if flag and not evidence:
            summary.warnings[f"{column} ignored: no consent evidence"] += 1
            continue
        consents.append((channel, address, flag, evidence, consent_at))
    registered = v.local_time(get(row, "registered_at"), tz, field="registered_at")
    return MemberRow(line_no, keys, profile, store, registered, consents)


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
        res = resolver.resolve(r.keys, r.profile, r.registered_at or utcnow())
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
                at or utcnow(),
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


def _record_consent(
    conn: Connection,
    customer_id: int,
    brand_id: int,
    channel: str,
    address: str,
    granted: bool,
    source: str,
    evidence: str | None,
    at: datetime,
) -> int:
    """Upsert one marketing consent; a newer statement wins, so a later withdrawal stands."""
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
    conn.execute(
        t.update()
        .where(t.c.id == row.id)
        .values(status=status, source=source, evidence=evidence, recorded_at=at)
    )
    return 1
