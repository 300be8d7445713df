"""Cached aggregates of the analytical copy. At a million customers the overview's scans take
seconds; the copy changes only when a refresh finds something new, so its aggregates are kept
on disk beside the copy, keyed by the question and by the copy's content fingerprint
(``analytics.service.content_version``), and shared by every server process and the worker
(which warms the default view after its refresh). Only counts and sums are kept — nobody's
personal data — and an erasure changes the fingerprint, so nothing stale outlives it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from siyu import clock
from siyu.analytics.service import copy_state
from siyu.config import Settings


@dataclass
class Cached:
    """An answer and when it was worked out (naive UTC); ``hit``: read from the cache;
    ``fresh``: when the copy's tables it read were last refreshed (None: never)."""

    value: Any
    computed_at: datetime
    hit: bool
    fresh: datetime | None = None


def folder(settings: Settings) -> Path:
    copy = settings.resolved_analytics_path
    return copy.parent / f"{copy.stem}-cache"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot cache {type(value).__name__}")


def remember(
    settings: Settings,
    question: Sequence[Any],
    tables: Sequence[str],
    compute: Callable[[], Any],
) -> Cached:
    """The answer to ``question`` (anything JSON can write) over ``tables`` of the copy: the
    cached one if the copy has not changed since, else ``compute()``, stored for next time.
    With no copy yet, ``compute`` runs (and says so in its own words)."""
    version, fresh = copy_state(settings, tables)
    if version is None or not settings.metrics_cache:
        return Cached(compute(), clock.now().replace(tzinfo=None), False, fresh)
    key = hashlib.sha256(json.dumps(list(question), default=str).encode()).hexdigest()[:20]
    over = hashlib.sha256(",".join(sorted(tables)).encode()).hexdigest()[:8]
    path = folder(settings) / f"{over}-{version}-{key}.json"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        when = datetime.fromisoformat(stored["computed_at"])
        return Cached(stored["value"], when, True, fresh)
    except (OSError, ValueError, KeyError):
        pass  # not there yet, or half-written by a process that died: work it out again
    value = compute()
    now = clock.now().replace(tzinfo=None)
    _write(path, {"question": list(question), "computed_at": now.isoformat(), "value": value})
    return Cached(json.loads(json.dumps(value, default=_plain)), now, False, fresh)


def _write(path: Path, content: dict[str, Any]) -> None:
    """Atomically (another process reads it meanwhile), dropping answers over the same tables
    of older copies (answers over other tables carry another fingerprint; they stay)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    over, version, _key = path.name.split("-", 2)
    for old in path.parent.glob(f"{over}-*.json"):
        if not old.name.startswith(f"{over}-{version}-"):
            old.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(content, out, ensure_ascii=False, default=_plain)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clear(settings: Settings) -> int:
    """Forget every cached answer (returns how many); the next view works them out again."""
    removed = 0
    for old in folder(settings).glob("*.json"):
        old.unlink(missing_ok=True)
        removed += 1
    return removed
