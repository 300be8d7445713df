"""A form's fields: what an operator may define (checked when the form is saved) and what an
answer to each must be (checked when it is submitted). Every text has a size limit; answers
are kept as the field's key → a short value, never markup (pages escape them)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from siyu.refusals import Refusal

KINDS = ("text", "choice", "phone", "address", "date", "nps", "consent")
MOST_FIELDS = 30
MOST_OPTIONS = 30
LABEL_MAX = 200
OPTION_MAX = 100
TEXT_MAX = 500  # a text answer
ADDRESS_MAX = 200
CONSENT_MAX = 500
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2100, 12, 31)
VERSION = re.compile(r"[0-9A-Za-z._-]{1,20}")


class FormRefused(Refusal):
    """A form definition or an answer that cannot be taken as given (422)."""


def _text(value: Any, most: int, n: int) -> str:
    """A text of a field's definition (field ``n``), stripped."""
    if not isinstance(value, str) or len(value.strip()) > most:
        raise FormRefused("field {n}: a text of at most {most} characters", n=n, most=most)
    return value.strip()


def _answer(value: str, most: int, label: str) -> str:
    if len(value) > most:
        raise FormRefused("{label}: at most {most} characters", label=label, most=most)
    return value


def checked_fields(raw: Any) -> list[dict[str, Any]]:
    """The fields as stored: each with its key (``q1``…), kind, label and required flag, the
    options of a choice, the text and version of a consent. At most one phone and one NPS
    field (the phone names the person, the NPS answer is the survey's score)."""
    if not isinstance(raw, list) or len(raw) > MOST_FIELDS:
        raise FormRefused("a form has a list of at most {most} fields", most=MOST_FIELDS)
    out: list[dict[str, Any]] = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise FormRefused("field {n} must be an object", n=n)
        kind = item.get("kind")
        if kind not in KINDS:
            raise FormRefused("field {n}: kind is one of {kinds}", n=n, kinds=", ".join(KINDS))
        label = _text(item.get("label", ""), LABEL_MAX, n)
        if not label:
            raise FormRefused("field {n} needs a label", n=n)
        field: dict[str, Any] = {
            "key": f"q{n}",
            "kind": kind,
            "label": label,
            "required": item.get("required") is True,
        }
        if kind == "choice":
            options = item.get("options")
            if not isinstance(options, list) or not 2 <= len(options) <= MOST_OPTIONS:
                raise FormRefused(
                    "field {n}: a choice has 2 to {most} options", n=n, most=MOST_OPTIONS
                )
            field["options"] = [_text(o, OPTION_MAX, n) for o in options]
            if "" in field["options"] or len(set(field["options"])) != len(options):
                raise FormRefused("field {n}: options must be different and not empty", n=n)
            field["multi"] = item.get("multi") is True
        if kind == "consent":
            field["text"] = _text(item.get("text", ""), CONSENT_MAX, n)
            version = item.get("version", "")
            if not field["text"] or not isinstance(version, str) or not VERSION.fullmatch(version):
                raise FormRefused(
                    "field {n}: a consent needs its text and a version (letters, digits, . _ -)",
                    n=n,
                )
            field["version"] = version
        out.append(field)
    for once in ("phone", "nps", "consent"):
        if sum(f["kind"] == once for f in out) > 1:
            raise FormRefused("a form has at most one {kind} field", kind=once)
    return out


def answer_of(field: dict[str, Any], raw: Any) -> Any:
    """One field's answer as stored, or None when left empty (refused if required). ``raw``
    is a string, or a list of strings for a multiple choice."""
    kind, label = field["kind"], field["label"][:40]
    values = [v for v in (raw if isinstance(raw, list) else [raw]) if isinstance(v, str)]
    values = [v.strip() for v in values[:MOST_OPTIONS] if v.strip()]
    if not values:
        if field.get("required"):
            raise FormRefused("{label}: please answer this question", label=label)
        return None
    first = values[0]
    if kind == "text":
        return _answer(first, TEXT_MAX, label)
    if kind == "address":
        return _answer(first, ADDRESS_MAX, label)
    if kind == "choice":
        chosen = values if field.get("multi") else values[:1]
        if any(v not in field["options"] for v in chosen):
            raise FormRefused("{label}: choose one of the options", label=label)
        return sorted(set(chosen), key=field["options"].index) if field.get("multi") else first
    if kind == "date":
        try:  # a birthday may be long before the days an operator filters by
            found = date.fromisoformat(first) if len(first) == 10 else None
        except ValueError:
            found = None
        if found is None or not FIRST_DATE <= found <= LAST_DATE:
            raise FormRefused("{label}: a date as YYYY-MM-DD", label=label)
        return found.isoformat()
    if kind == "nps":
        if not (first.isascii() and first.isdigit() and len(first) <= 2 and int(first) <= 10):
            raise FormRefused("{label}: a whole number from 0 to 10", label=label)
        return int(first)
    if kind == "consent":
        if first != "1":
            raise FormRefused("{label}: tick the box to agree", label=label)
        return True
    return first  # phone: checked by the SMS code, see service


def nps_group(score: int | None) -> str:
    """promoter (9–10), passive (7–8), detractor (0–6), or "" for a skipped answer."""
    if score is None:
        return ""
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
