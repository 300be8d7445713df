"""Reading a member list's rows: each row's identities (an ``openid`` under its official
account's AppID), profile, store, do-not-disturb and consents with their evidence, or why the
row is refused (``siyu.ingest.customers`` writes what is read here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from siyu.config import Settings
from siyu.csvsafe import unquote
from siyu.customers import identifiers as ids
from siyu.ingest import values as v
from siyu.ingest.formats import ExportFormat
from siyu.ingest.reader import ImportFileError, OpenedFile, numbered
from siyu.ingest.service import ImportSummary

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


def openid_appid(given: str | None, settings: Settings) -> str:
    """The AppID of openids whose row names none: ``--oa-appid``, else the configured one."""
    if not given:
        return settings.oa_appid
    try:
        return ids.appid(given)
    except ids.Rejected as exc:
        raise ImportFileError(
            "--oa-appid {given!r}: {reason}", given=given, reason=str(exc)
        ) from None


def read_members(
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
