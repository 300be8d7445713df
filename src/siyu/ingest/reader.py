"""Opening export files as the platforms write them: GBK/GB18030, UTF-8 with or without BOM,
UTF-16 "Unicode text" from Excel, comma or tab separated; streamed, never loaded whole.
Workbooks (.xlsx/.xls) are turned into such a file first (``workbook``)."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siyu.ingest.formats import ExportFormat
from siyu.refusals import Refusal

csv.field_size_limit(1024 * 1024)


class ImportFileError(Refusal):
    """The file cannot be imported at all (nothing is written); the message says why."""


@dataclass
class OpenedFile:
    encoding: str
    delimiter: str
    header: list[str]
    columns: dict[str, int]  # Siyu field -> column index
    rows: Iterator[list[str]]
    stream: io.TextIOBase
    header_line: int = 1  # the header's line number (blank lines may come before it)

    def close(self) -> None:
        self.stream.close()


def detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            "this looks like an Excel workbook (.xlsx) but cannot be read as one; "
            "open it in Excel/WPS and save it again"
        )
    if _looks_like_html(sample):
        raise ImportFileError(
            "this file is a web page (an HTML table saved as .xls), not a spreadsheet; open it "
            "in Excel/WPS and save it as .xlsx or CSV"
        )
    if b"\x00" in sample[:4096]:
        raise ImportFileError("this looks like a binary file, not a CSV export")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise ImportFileError(
            "cannot read the file's text encoding; save it as UTF-8 or GBK (GB18030) CSV"
        ) from None


def _looks_like_html(sample: bytes) -> bool:
    head = sample[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<table", b"<meta"))


def load_mapping(path: Path | None) -> dict[str, str]:
    """A mapping file is JSON: {"the file's header": "siyu field", …}."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(
            "mapping file {path} is not readable JSON: {reason}", path=str(path), reason=str(exc)
        ) from None
    return parse_mapping(text, str(path))


def parse_mapping(text: str, name: str) -> dict[str, str]:
    """The mapping file's JSON text; ``name`` says where it came from in a refusal."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ImportFileError(
            "mapping file {path} is not readable JSON: {reason}", path=name, reason=str(exc)
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ImportFileError(
            'mapping file must be a JSON object of "file header": "siyu field" pairs'
        )
    return data


def check_path(path: Path, max_bytes: int) -> int:
    if not path.exists():
        raise ImportFileError("file not found: {path}", path=str(path))
    if path.is_dir():
        raise ImportFileError("{path} is a directory; give the export file itself", path=str(path))
    size = path.stat().st_size
    if size == 0:
        raise ImportFileError("{path} is empty (0 bytes)", path=str(path))
    if size > max_bytes:
        raise ImportFileError(
            "{path} is {size} GiB, larger than the limit of {limit} GiB "
            "(SIYU_IMPORT_MAX_BYTES); split the export by month",
            path=str(path),
            size=f"{size / 1024**3:.1f}",
            limit=f"{max_bytes / 1024**3:.1f}",
        )
    return size


def open_export(path: Path, fmt: ExportFormat, mapping: dict[str, str]) -> OpenedFile:
    with path.open("rb") as fh:
        sample = fh.read(256 * 1024)
    encoding = detect_encoding(sample)
    stream = io.TextIOWrapper(path.open("rb"), encoding=encoding, newline="")
    try:
        first, header_line = stream.readline(), 1
        while first and not first.strip(",\t\r\n \ufeff"):  # blank lines above the header
            first, header_line = stream.readline(), header_line + 1
        if not first.strip():
            raise ImportFileError("the file has no header row")
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        header = next(csv.reader([first], delimiter=delimiter))
        header = [h.strip().strip('"').strip("\ufeff").strip() for h in header]
        columns = map_columns(header, fmt, mapping)
    except (ImportFileError, UnicodeDecodeError, csv.Error) as exc:
        stream.close()
        if isinstance(exc, UnicodeDecodeError):
            raise ImportFileError(
                "the header is not valid {encoding} text", encoding=encoding
            ) from None
        if isinstance(exc, csv.Error):
            raise ImportFileError(
                "the header row cannot be read: {reason}", reason=str(exc)
            ) from None
        raise
    rows = csv.reader(stream, delimiter=delimiter)
    return OpenedFile(encoding, delimiter, header, columns, rows, stream, header_line)


def numbered(opened: OpenedFile) -> Iterator[tuple[int, list[str], str | None]]:
    """The file's rows with the line each starts on (the header is line 1, or later after blank lines; a quoted cell that
    runs over several lines counts them all), and why a row cannot be trusted, if it cannot.

    A quoted cell may hold line breaks (addresses and remarks in real exports do). But a quote
    left open makes the csv reader carry on to the next quote, swallowing the rows in between
    into one cell, often with the right number of columns. The rows it swallowed are still
    there, with every separator: a line inside the row that holds as many separators as a
    whole row has (the header's width less one) is taken for a swallowed row, and the row is
    refused with the lines it spans, so it goes to the rejects file instead of an order."""
    rows: Any = opened.rows
    width, delimiter = len(opened.header), opened.delimiter
    end = opened.header_line  # the csv reader counts the lines after the header
    for row in rows:
        start, end = end + 1, opened.header_line + rows.line_num
        yield start, row, swallowed(row, delimiter, width, start, end) if end > start else None


def swallowed(row: list[str], delimiter: str, width: int, start: int, end: int) -> str | None:
    """Why a row spanning lines ``start``–``end`` looks like rows run together, or None."""
    if width < 2:
        return None
    lines = delimiter.join(row).split("\n")
    for offset, text in enumerate(lines[1:], start=1):
        if text.count(delimiter) >= width - 1:
            return (
                f"a quoted cell runs from line {start} to line {end} and holds what looks like "
                f"a whole row (line {start + offset}): a quote left open? Close it and import "
                "these lines again"
            )
    return None


def map_columns(header: list[str], fmt: ExportFormat, mapping: dict[str, str]) -> dict[str, int]:
    index = {h: i for i, h in enumerate(header) if h}
    columns: dict[str, int] = {}
    for field_name, candidates in fmt.columns.items():
        for candidate in candidates:
            if candidate in index:
                columns[field_name] = index[candidate]
                break
    for file_header, field_name in mapping.items():
        if field_name not in fmt.columns:
            raise ImportFileError(
                "mapping names unknown field {field!r}; fields of {source} {kind}: {fields}",
                field=field_name,
                source=fmt.source,
                kind=fmt.kind,
                fields=", ".join(fmt.columns),
            )
        if file_header not in index:
            raise ImportFileError(
                "mapping names column {column!r}, not in the file header", column=file_header
            )
        columns[field_name] = index[file_header]
    missing = [group for group in fmt.required if not any(f in columns for f in group)]
    if missing:
        need = "; ".join(
            " or ".join(f"{f} ({'/'.join(fmt.columns[f])})" for f in group) for group in missing
        )
        raise ImportFileError(
            "missing required column(s) for {title}: {need}. The file's header is: {header}",
            title=fmt.title,
            need=need,
            header=", ".join(header[:30]),
        )
    return columns
