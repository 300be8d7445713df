"""Imports started from the console (导入数据): the uploaded file kept under the data directory
by a name of Siyu's own, a run queued for it, a job the worker runs, and the file deleted once
the import has ended.

Retention: an uploaded export holds personal data (phones, names, addresses), so Siyu keeps it
only while it is being imported. The worker deletes it when the import ends, whether it
succeeded or not; the hourly ``imports.sweep_uploads`` deletes anything left behind by a
crashed worker or an interrupted upload. What stays is the run's summary and its rejects file
(the rows that were not imported, for the operator to fix), which erasure scrubs like every
other rejects file. The operator's file name is kept only as text to show, never as a path.
"""

from __future__ import annotations

import re
import time
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from siyu import clock
from siyu.brands.models import Brand
from siyu.config import Settings
from siyu.ingest.formats import CUSTOMER_SOURCES, ORDER_SOURCES, get_format
from siyu.ingest.models import ImportRun
from siyu.ingest.reader import parse_mapping
from siyu.jobs.models import Job
from siyu.refusals import Refusal

JOB_KIND = "imports.upload"
# the file types an export comes in, by the name's ending -> the ending the stored file gets
EXTENSIONS = {"csv": "csv", "txt": "txt", "tsv": "txt", "xlsx": "xlsx", "xls": "xls"}
MAPPING_MAX_BYTES = 64 * 1024
_STORED = re.compile(r"[0-9a-f]{32}\.(csv|txt|xlsx|xls)")
LEFTOVER_SECONDS = 3600  # an upload no job is waiting for, this old, is a leftover


class UploadError(Refusal):
    """An upload the console will not import; nothing is kept."""


@dataclass(frozen=True)
class UploadRequest:
    """What the import form asks for, besides the file."""

    kind: str
    source: str
    mapping_text: str = ""
    brand: str = ""
    shop: str = ""


def upload_dir(settings: Settings) -> Path:
    return settings.data_dir / "uploads"


def stored_path(settings: Settings, file_name: str) -> Path:
    """Where an upload named ``file_name`` is written: ``uploads/<random>.<ext>``; the name
    itself never becomes part of a path. Refuses names that are not an export's."""
    ext = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if ext not in EXTENSIONS:
        raise UploadError(
            "only .csv, .txt, .xlsx and .xls files can be imported (got {name!r})",
            name=shown_name(file_name),
        )
    return upload_dir(settings) / f"{uuid.uuid4().hex}.{EXTENSIONS[ext]}"


def shown_name(raw: str) -> str:
    """The operator's file name as text to show: the last part of any path, without control or
    formatting characters, at most 200 characters."""
    name = re.split(r"[/\\]", raw or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:200] or "upload"


def sources(kind: str) -> list[tuple[str, str]]:
    """(source, title) of every export format of ``kind`` the importer knows."""
    known = ORDER_SOURCES if kind == "orders" else CUSTOMER_SOURCES
    return [(s, get_format(kind, s).title) for s in known]


def check_request(session: Session, form: UploadRequest) -> dict[str, str]:
    """The form's choices, checked before the file is kept: kind, source, brand, shop and the
    mapping (whose fields must be the format's). Returns the mapping."""
    if form.kind not in ("orders", "customers"):
        raise UploadError("choose what the file holds: orders or customers")
    fmt = get_format(form.kind, form.source)
    if len(form.mapping_text.encode()) > MAPPING_MAX_BYTES:
        raise UploadError("the mapping file is larger than 64 KiB")
    mapping = parse_mapping(form.mapping_text, "mapping") if form.mapping_text.strip() else {}
    for header, field_name in mapping.items():
        if field_name not in fmt.columns:
            raise UploadError(
                "mapping names unknown field {field!r} (for {header!r}); fields of {source} "
                "{kind}: {fields}",
                field=field_name,
                header=header[:100],
                source=fmt.source,
                kind=fmt.kind,
                fields=", ".join(fmt.columns),
            )
    if form.brand and not session.scalar(sa.select(Brand.id).where(Brand.code == form.brand)):
        raise UploadError("no brand with code {code!r}", code=form.brand[:50])
    if not form.brand and (session.scalar(sa.select(sa.func.count()).select_from(Brand)) or 0) > 1:
        raise UploadError("several brands exist; choose the brand the file belongs to")
    if len(form.shop) > 100:
        raise UploadError("shop name: at most 100 characters")
    return mapping


def queue_import(
    session: Session,
    settings: Settings,
    form: UploadRequest,
    *,
    stored: Path,
    file_name: str,
    actor: str,
) -> int:
    """A queued run for an uploaded file and the job that will import it; returns the run's
    id. The caller deletes ``stored`` if this refuses."""
    from siyu.accounts.service import record_audit
    from siyu.jobs.service import enqueue

    mapping = check_request(session, form)
    size = stored.stat().st_size
    if size == 0:
        raise UploadError("the file is empty (0 bytes)")
    name = shown_name(file_name)
    run = ImportRun(
        kind=form.kind,
        source=form.source,
        file_name=name,
        status="queued",
        actor=actor,
        stats={"file_bytes": size, "uploaded": True},
        started_at=clock.now(),
    )
    session.add(run)
    session.flush()
    enqueue(
        session,
        JOB_KIND,
        {
            "run_id": run.id,
            "file": stored.name,
            "kind": form.kind,
            "source": form.source,
            "mapping": mapping,
            "brand": form.brand or None,
            "shop": form.shop if form.kind == "orders" else "",
        },
        max_attempts=1,
    )
    record_audit(
        session,
        actor,
        f"import.upload.{form.kind}",
        "import_run",
        str(run.id),
        {"file": name, "source": form.source, "bytes": size},
    )
    return run.id


def run_upload(engine: Engine, settings: Settings, payload: dict[str, Any]) -> None:
    """The worker's side: import the uploaded file into its queued run, then delete the file.
    A file that cannot be imported fails the run with the reason; so does an unexpected error
    (which is raised again for the job's record)."""
    from siyu.brands.service import BrandError
    from siyu.config import MissingSecretKey
    from siyu.ingest.customers import import_customers
    from siyu.ingest.orders import import_orders

    run_id = int(payload["run_id"])
    name = str(payload.get("file", ""))
    path = upload_dir(settings) / name
    try:
        if not _STORED.fullmatch(name) or not path.is_file():
            raise UploadError("the uploaded file is no longer there; upload it again")
        with Session(engine) as session:
            run = session.get(ImportRun, run_id)
            file_name = run.file_name if run else name
        common: dict[str, Any] = {
            "actor": run.actor if run else "upload",
            "brand": payload.get("brand"),
            "mapping": dict(payload.get("mapping") or {}),
            "file_name": file_name,
            "run_id": run_id,
        }
        if payload["kind"] == "orders":
            import_orders(
                engine, settings, path, payload["source"], shop=payload.get("shop") or "", **common
            )
        else:
            import_customers(engine, settings, path, payload["source"], **common)
    except (Refusal, BrandError, MissingSecretKey) as exc:
        fail_run(engine, run_id, exc)
    except Exception as exc:
        fail_run(engine, run_id, exc)
        raise
    finally:
        with suppress(FileNotFoundError):
            path.unlink()


def fail_run(engine: Engine, run_id: int, exc: BaseException) -> None:
    """Mark a run failed with the reason (said in the reader's language where it is a
    refusal), keeping what the run recorded so far."""
    from siyu.ingest.service import ImportSummary, refused

    with Session(engine) as session:
        run = session.get(ImportRun, run_id)
        if run is None:
            return
        said = ImportSummary()
        refused(said, exc)
        run.stats = {**(run.stats or {}), "error": said.error, "refused": said.refused}
        run.status, run.finished_at = "failed", clock.now()
        session.commit()


def sweep(session: Session, settings: Settings) -> int:
    """Delete uploads no queued or running import is waiting for (a crashed worker's, an
    interrupted upload's partial file) once they are an hour old, and converted workbooks left
    in the work directory a day ago. Returns how many files went."""
    waiting = {
        str((payload or {}).get("file"))
        for payload in session.scalars(
            sa.select(Job.payload).where(
                Job.kind == JOB_KIND, Job.status.in_(("queued", "running"))
            )
        )
    }
    now, gone = time.time(), 0
    for folder, age, keep in (
        (upload_dir(settings), LEFTOVER_SECONDS, waiting),
        (settings.data_dir / "work", 86400, set()),
    ):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name in keep or not path.is_file() or now - path.stat().st_mtime < age:
                continue
            with suppress(FileNotFoundError):
                path.unlink()
                gone += 1
    return gone


def rejects_file(session: Session, settings: Settings, run_id: int) -> tuple[ImportRun, Path]:
    """A run and its rejects file, which must lie in the data directory's rejects folder (a
    CLI run may have written its rejects elsewhere: that file is not served)."""
    run = session.get(ImportRun, run_id)
    if run is None or not run.rejects_path:
        raise UploadError("import {id} has no rejects file", id=run_id)
    folder = (settings.data_dir / "rejects").resolve()
    path = Path(run.rejects_path).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise UploadError("import {id} has no rejects file", id=run_id)
    return run, path


def rejects_bytes(path: Path, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """A rejects file as it is stored: written through ``siyu.csvsafe`` (cells a spreadsheet
    would run as a formula already carry their ``'``), UTF-8 with the BOM Excel wants. Guarding
    it again would add a second ``'`` and spoil the round trip back into an import."""
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            yield block
