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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from siyu.accounts.models import AuditLog
from siyu.brands.service import StoreCache
from siyu.bulk import chunks
from siyu.config import Settings
from siyu.csvsafe import unquote
from siyu.customers import identifiers as ids
from siyu.customers.changes import touch_customers
from siyu.customers.models import Consent, Customer
from siyu.customers.resolution import Resolver
from siyu.db import table_of, utcnow, write_transaction
from siyu.ingest import values as v
from siyu.ingest.formats import ExportFormat, get_format
from siyu.ingest.reader import ImportFileError, OpenedFile, load_mapping, numbered
from siyu.ingest.runs import (
    ImportStart,
    ImportSummary,
    Progress,
    begin_import,
    checkpoint,
    end_import,
    readable,
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
    do_not_disturb: bool | None = None  # None: the file says nothing


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
    default_appid = _default_appid(oa_appid, settings)
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
        for item in _rows(opened, fmt, start.brand_code, settings.tz, summary, default_appid):
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


def _default_appid(given: str | None, settings: Settings) -> str:
    """The AppID of openids whose row names none: ``--oa-appid``, else the configured one."""
    if not given:
        return settings.oa_appid
    try:
        return ids.appid(given)
    except ids.Rejected as exc:
        raise ImportFileError(
            "--oa-appid {given!r}: {reason}", given=given, reason=str(exc)
        ) from None


def _rows(
    opened: OpenedFile,
    fmt: ExportFormat,
    brand_code: str,
    tz: ZoneInfo,
    summary: ImportSummary,
    default_appid: str = "",
) -> Any:
    col = opened.columns

    def get(row: list[str], name: str) -> str | None:
        i = col.get(name)
        if i is None or i >= len(row):
            return None
        text = row[i].strip()
        if text[:1] == "'":  # a Siyu rejects file's guard before a formula character comes off
            return unquote(text)
        return text or None

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
            yield _member(row, get, line_no, fmt, brand_code, tz, summary, default_appid)
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
    default_appid: str = "",
) -> MemberRow:
    keys: list[Key] = []
    problems: list[str] = []
    found: dict[str, str] = {}
    for field_name, kind, ns in (
        ("member_id", ids.Kind.member_id, brand_code),
        ("phone", ids.Kind.phone, ""),
        ("buyer_id", ids.Kind.buyer_id, f"{fmt.source}:"),
        ("unionid", ids.Kind.unionid, "wechat"),
        ("openid", ids.Kind.openid, None),
        ("email", ids.Kind.email, ""),
    ):
        raw = get(row, field_name)
        if raw is None:
            continue
        try:
            if ns is None:  # an openid's namespace is its official account
                ns = ids.appid(get(row, "oa_appid") or default_appid)
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
    dropped = [p for p in problems if p.startswith("openid:")]
    if dropped:  # the row stands on its other identities; say why its openid did not
        summary.warnings[f"openid ignored ({dropped[0].removeprefix('openid: ')})"] += 1
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
    dnd = v.do_not_disturb_flag(get(row, "do_not_disturb"))
    return MemberRow(line_no, keys, profile, store, registered, consents, dnd)


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
    now = utcnow()
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
    now = utcnow()
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
