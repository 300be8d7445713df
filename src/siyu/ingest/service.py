"""The import service: a run's life (begin, checkpoints, end or refusal), its summary and its
rejects file, shared by every importer (orders, customers, members; CLI, console and worker)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from siyu import clock, csvsafe
from siyu.brands.service import resolve_brand
from siyu.config import Settings
from siyu.db import table_of, write_transaction
from siyu.i18n import N_
from siyu.ingest.formats import ExportFormat
from siyu.ingest.models import ImportRun
from siyu.ingest.reader import OpenedFile, check_path, open_export
from siyu.ingest.workbook import as_csv
from siyu.refusals import Refusal

Progress = Callable[[int, int], None]  # (bytes read, rows read)


@dataclass
class ImportSummary:
    """What an import did; printed by the CLI and stored on the run."""

    run_id: int = 0
    source: str = ""
    encoding: str = ""
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    customers_created: int = 0
    merges: int = 0
    conflicts: int = 0
    suppressed: int = 0
    consents: int = 0
    do_not_disturb: int = 0  # customers whose do-not-disturb the file set or cleared
    batches: int = 0
    bytes_read: int = 0  # how far into the file the stored batches reach (progress)
    file_bytes: int = 0
    rejects_path: str | None = None
    error: str | None = None
    # why the file could not be imported, as a refusal's template and values (the console
    # says it in the reader's language); None when it was
    refused: dict[str, Any] | None = None

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = dict(self.rejected)
        data["warnings"] = dict(self.warnings)
        data["rejected_total"] = self.rejected_total
        return data


class RejectsFile:
    """Rejected rows with their line number and reason; never aborts the import."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.header = header
        self._writer: Any = None
        self._fh: Any = None

    def add(self, line_no: int, reason: str, row: list[str]) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csvsafe.writer(self._fh)
            self._writer.writerow(["行号 line", "原因 reason", *self.header])
        self._writer.writerow([line_no, reason, *row])

    @property
    def used(self) -> bool:
        return self._writer is not None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def start_run(
    engine: Engine,
    kind: str,
    source: str,
    file_name: str,
    actor: str,
    run_id: int | None = None,
) -> int:
    """A new run, or the queued run ``run_id`` (an upload from the console) taken up."""
    t = table_of(ImportRun)
    if run_id is not None:
        with engine.begin() as conn:
            conn.execute(
                t.update()
                .where(t.c.id == run_id)
                .values(status="running", started_at=clock.now(), finished_at=None)
            )
        return run_id
    with engine.begin() as conn:
        result = conn.execute(
            table_of(ImportRun)
            .insert()
            .values(
                kind=kind,
                source=source,
                file_name=file_name[:300],
                status="running",
                actor=actor,
                stats={},
                started_at=clock.now(),
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def finish_run(engine: Engine, summary: ImportSummary, status: str) -> None:
    t = table_of(ImportRun)
    with engine.begin() as conn:
        conn.execute(
            t.update()
            .where(t.c.id == summary.run_id)
            .values(
                status=status,
                stats=summary.as_dict(),
                rejects_path=summary.rejects_path,
                finished_at=clock.now(),
            )
        )


def checkpoint(conn: sa.Connection, summary: ImportSummary) -> None:
    """Record progress inside the batch's transaction (on SQLite this also takes the write lock
    before ids are allocated)."""
    t = table_of(ImportRun)
    conn.execute(t.update().where(t.c.id == summary.run_id).values(stats=summary.as_dict()))


def default_rejects_path(data_dir: Path, run_id: int, file_path: Path) -> Path:
    return data_dir / "rejects" / f"import-{run_id}-{file_path.stem}.rejects.csv"


@contextmanager
def readable(settings: Settings, path: Path) -> Iterator[tuple[Path, str | None]]:
    """(the file the parsers read, ``xlsx``/``xls`` or None): a workbook is read as the CSV it
    is converted to (``workbook``), for as long as the import runs."""
    check_path(path, settings.import_max_bytes)
    with as_csv(
        path,
        settings.data_dir / "work",
        max_unpacked=settings.import_xlsx_max_unpacked_bytes,
        max_memory=settings.import_xlsx_max_memory_bytes,
    ) as found:
        yield found


@dataclass
class ImportStart:
    """What both importers set up before the first row: the opened file, brand, run, rejects."""

    opened: OpenedFile
    brand_id: int
    brand_code: str
    summary: ImportSummary
    rejects: RejectsFile


def begin_import(
    engine: Engine,
    settings: Settings,
    fmt: ExportFormat,
    path: Path,
    mapping: dict[str, str],
    *,
    actor: str,
    brand: str | None,
    rejects_path: Path | None,
    named: Path | None = None,
    workbook: str | None = None,
    file_name: str | None = None,
    run_id: int | None = None,
) -> ImportStart:
    """Checks that can refuse the whole file come first (ImportFileError), then the run starts.

    ``path`` is what the parsers read; ``named`` the file as given (a workbook, when ``path`` is
    its CSV), ``file_name`` the name shown for it (an upload's original name) and ``run_id`` a
    run already queued for it."""
    named = named or path
    size = check_path(path, settings.import_max_bytes)
    opened = open_export(path, fmt, mapping)
    try:
        with write_transaction(engine) as conn:
            brand_id, brand_code = resolve_brand(conn, brand)
    except BaseException:
        opened.close()
        raise
    encoding = workbook or opened.encoding
    summary = ImportSummary(source=fmt.source, encoding=encoding, file_bytes=size)
    summary.run_id = start_run(
        engine, fmt.kind, fmt.source, file_name or named.name, actor, run_id=run_id
    )
    rejects = RejectsFile(
        rejects_path or default_rejects_path(settings.data_dir, summary.run_id, named),
        opened.header,
    )
    return ImportStart(opened, brand_id, brand_code, summary, rejects)


STOPPED = N_(
    "stopped near row {row}: {reason}. Batches before it are stored; fix the file and import "
    "it again to resume."
)
NO_ROWS = N_("the file has a header but no data rows")


def refused(summary: ImportSummary, exc: BaseException) -> None:
    """Record why the file could not be imported: the text, and for a refusal its template and
    values, so the console can say it in the reader's language."""
    summary.error = str(exc)
    if isinstance(exc, Refusal):
        summary.refused = {"template": exc.template, "params": _plain(exc.params)}


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, int | float | str) else str(v) for k, v in params.items()}


def stopped(summary: ImportSummary, exc: Exception) -> None:
    refused(summary, Refusal(STOPPED, row=summary.read + 1, reason=str(exc)))


def end_import(engine: Engine, start: ImportStart) -> ImportSummary:
    """Close the rejects file and record how the run ended."""
    summary = start.summary
    start.rejects.close()
    summary.rejects_path = str(start.rejects.path) if start.rejects.used else None
    if summary.read == 0 and not summary.error:
        refused(summary, Refusal(NO_ROWS))
    if not summary.error:
        summary.bytes_read = summary.file_bytes
    finish_run(engine, summary, "failed" if summary.error else "done")
    if summary.inserted or summary.updated:
        from siyu.jobs.service import enqueue_soon

        enqueue_soon(engine, "tags.apply", within_seconds=60)  # rule tags follow new data
        enqueue_soon(engine, "segments.refresh_changed", within_seconds=60)  # and segments
    return summary
