"""Excel and WPS workbooks (.xlsx, .xls) as the CSV the importers read.

A workbook is read by python-calamine in a child process and written out as a UTF-8 CSV, cell
by cell as the text the parsers expect; the import then reads that CSV like any export, so the
fast lane, the row parser, the rejects file and the progress by bytes are the ones every CSV
import uses, and the workbook's memory is given back before the first batch is written.

calamine holds a whole sheet in memory (about twice the sheet's unpacked XML) and lays it out
as a dense grid, so a small hostile file could ask for gigabytes: one cell in A1 and one in
XFD1048576, or shared strings that unpack a thousandfold. Before calamine sees a workbook its
parts are unpacked once here and counted against ``SIYU_IMPORT_XLSX_MAX_UNPACKED_BYTES``, and the
child runs under a data-size limit (``SIYU_IMPORT_XLSX_MAX_MEMORY_BYTES``): a file that needs
more is refused, and nothing else in the process pays for it.

Cells come back typed and are written as text: whole numbers without ``.0`` (a phone stored as
1.3812345678E10 becomes ``13812345678``), numbers past 2^53 in scientific notation (their
digits are gone, so an id made of them is refused, never guessed), dates and times as the local
wall-clock text the export showed, booleans as Excel writes them in a CSV. A formula gives the
value Excel saved with it; nothing is evaluated.
"""

from __future__ import annotations

import multiprocessing as mp
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from siyu import csvsafe
from siyu.ingest.reader import ImportFileError

XLSX_MAGIC = b"PK\x03\x04"
XLS_MAGIC = (
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the OLE2 container of .xls (and of encrypted .xlsx)
)
MAX_PARTS = 10_000
_CHUNK = 1024 * 1024
_EXACT = 2**53  # floats hold every whole number up to here


class WorkbookError(ImportFileError):
    """The workbook cannot be read (nothing is imported); the message says why."""


def kind_of(path: Path) -> str | None:
    """``xlsx`` or ``xls`` by the file's first bytes (never by its name), else None."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(XLSX_MAGIC):
        return "xlsx"
    if head == XLS_MAGIC:
        return "xls"
    return None


def check_archive(path: Path, max_unpacked: int) -> int:
    """Unpack every part calamine reads, counting what comes out (the sizes a zip declares
    may lie), and refuse past ``max_unpacked`` bytes. Returns the unpacked size."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise WorkbookError(
            "this looks like an Excel workbook (.xlsx) but cannot be read as one; "
            "open it in Excel/WPS and save it again"
        ) from None
    with archive:
        parts = archive.infolist()
        if len(parts) > MAX_PARTS:
            raise WorkbookError(
                "the workbook has {parts} parts, more than a spreadsheet has", parts=len(parts)
            )
        names = {p.filename for p in parts}
        if "xl/workbook.xml" not in names:
            raise WorkbookError(
                "this is a zip archive but not an Excel workbook (.xlsx); save the sheet as "
                ".xlsx or CSV"
            )
        total = 0
        for part in parts:
            if not part.filename.endswith((".xml", ".rels")):
                continue  # pictures and the like: calamine does not read them
            try:
                with archive.open(part) as fh:
                    while chunk := fh.read(_CHUNK):
                        total += len(chunk)
                        if total > max_unpacked:
                            raise WorkbookError(
                                "the workbook unpacks to more than {limit} MiB "
                                "(SIYU_IMPORT_XLSX_MAX_UNPACKED_BYTES); save it as CSV or "
                                "split it",
                                limit=max_unpacked // 1024**2,
                            )
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
                raise WorkbookError(
                    "the workbook is damaged or packed in a way it cannot be read ({part}); "
                    "open it in Excel/WPS and save it again",
                    part=part.filename[:100],
                ) from None
    return total


def cell_text(value: Any) -> str:
    """A calamine cell as the text a CSV export of the same sheet would hold."""
    kind = type(value)
    if kind is str:
        return value
    if kind is float:
        if value.is_integer():
            return str(int(value)) if abs(value) < _EXACT else repr(value)
        return repr(value) if value == value and abs(value) != float("inf") else ""
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if kind is int:
        return str(value)
    if kind is datetime:
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        ms = round(value.microsecond / 1000)
        return text if not ms else f"{text}.{min(ms, 999):03d}"
    if kind is date:
        return value.isoformat()
    if kind is time:
        return value.strftime("%H:%M:%S")
    if kind is timedelta:
        seconds = round(value.total_seconds())
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return "" if value is None else str(value)


@contextmanager
def as_csv(
    path: Path, work_dir: Path, *, max_unpacked: int, max_memory: int
) -> Iterator[tuple[Path, str | None]]:
    """(the file to import, ``xlsx``/``xls`` or None): a workbook is converted to a CSV in
    ``work_dir`` for as long as the block runs, then the CSV is deleted; any other file is
    given back as it is."""
    kind = kind_of(path) if path.is_file() else None
    if kind is None:
        yield path, None
        return
    if kind == "xlsx":
        check_archive(path, max_unpacked)
    work_dir.mkdir(parents=True, exist_ok=True)
    import uuid

    target = work_dir / f"{uuid.uuid4().hex}.csv"
    try:
        _convert_in_child(path, target, max_memory)
        yield target, kind
    finally:
        with suppress(FileNotFoundError):
            target.unlink()


def _convert_in_child(path: Path, target: Path, max_memory: int) -> None:
    ctx = mp.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(str(path), str(target), max_memory, send))
    child.daemon = True
    child.start()
    send.close()
    answer: tuple[Any, ...] | None = None
    try:
        answer = receive.recv()
    except EOFError:  # the child died without a word: out of memory (or killed)
        answer = None
    finally:
        if answer is None and child.is_alive():  # this process was interrupted: stop it too
            child.kill()
        child.join()
        receive.close()
    if answer is None or answer[0] == "memory":
        raise WorkbookError(
            "the workbook needs more memory to read than allowed "
            "(SIYU_IMPORT_XLSX_MAX_MEMORY_BYTES); save it as CSV or split it"
        )
    if answer[0] == "password":
        raise WorkbookError(
            "the workbook is password-protected; remove the password in Excel/WPS and save again"
        )
    if answer[0] == "empty":
        raise WorkbookError("the workbook has no sheet with data")
    if answer[0] == "error":
        raise WorkbookError(
            "the workbook cannot be read: {reason}; open it in Excel/WPS and save it again",
            reason=str(answer[1])[:300],
        )


def _child(path: str, target: str, max_memory: int, send: Any) -> None:
    """Runs in the child process: read the first sheet with data, write it as CSV."""
    import os

    with suppress(OSError):  # calamine's own report of a failed allocation: the pipe says it
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (max_memory, max_memory))
    except (ImportError, ValueError, OSError):  # no such limit here: the unpacked bound stays
        pass
    try:
        send.send(_write_first_sheet(path, target))
    except MemoryError:
        send.send(("memory",))
    except BaseException as exc:  # report, never leave the parent waiting
        import python_calamine

        if isinstance(exc, python_calamine.PasswordError):
            send.send(("password",))
        else:
            send.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


def _write_first_sheet(path: str, target: str) -> tuple[Any, ...]:
    from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    book = CalamineWorkbook.from_path(path)
    try:
        for meta in book.sheets_metadata:
            if meta.typ != SheetTypeEnum.WorkSheet or meta.visible != SheetVisibleEnum.Visible:
                continue
            sheet = book.get_sheet_by_name(meta.name)
            if sheet.height == 0 or sheet.width == 0:
                continue
            text = cell_text
            with open(target, "w", encoding="utf-8", newline="") as out:
                csvsafe.internal_writer(out).writerows(
                    [c if type(c) is str else text(c) for c in row] for row in sheet.iter_rows()
                )
            return ("done", sheet.end[0] + 1 if sheet.end else 0, meta.name)
        return ("empty",)
    finally:
        book.close()
