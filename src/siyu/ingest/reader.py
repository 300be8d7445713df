"""Opening export files as the platforms write them: GBK/GB18030, UTF-8 with or without BOM,
UTF-16 "Unicode text" from Excel, comma or tab separated; streamed, never loaded whole."""

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

csv.field_size_limit(1024 * 1024)


class ImportFileError(ValueError):
    """The file cannot be imported at all (nothing is written); the message says why."""


@dataclass
class OpenedFile:
    encoding: str
    delimiter: str
    header: list[str]
    columns: dict[str, int]  # Siyu field -> column index
    rows: Iterator[list[str]]
    stream: io.TextIOBase

    def close(self) -> None:
        self.stream.close()


def detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            "this is an Excel workbook (.xlsx); open it in Excel/WPS and save as CSV first"
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


def load_mapping(path: Path | None) -> dict[str, str]:
    """A mapping file is JSON: {"the file's header": "siyu field", …}."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportFileError(f"mapping file {path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ImportFileError(
            'mapping file must be a JSON object of "file header": "siyu field" pairs'
        )
    return data


def check_path(path: Path, max_bytes: int) -> int:
    if not path.exists():
        raise ImportFileError(f"file not found: {path}")
    if path.is_dir():
        raise ImportFileError(f"{path} is a directory; give the export file itself")
    size = path.stat().st_size
    if size == 0:
        raise ImportFileError(f"{path} is empty (0 bytes)")
    if size > max_bytes:
        raise ImportFileError(
            f"{path} is {size / 1024**3:.1f} GiB, larger than the limit of "
            f"{max_bytes / 1024**3:.1f} GiB (SIYU_IMPORT_MAX_BYTES); split the export by month"
        )
    return size


def open_export(path: Path, fmt: ExportFormat, mapping: dict[str, str]) -> OpenedFile:
    with path.open("rb") as fh:
        sample = fh.read(256 * 1024)
    encoding = detect_encoding(sample)
    stream = io.TextIOWrapper(path.open("rb"), encoding=encoding, newline="")
    try:
        first = stream.readline()
        if not first.strip():
            raise ImportFileError("the file has no header row")
        delimiter = "\t" if first.count("\t") > first.count(",") else ","
        header = next(csv.reader([first], delimiter=delimiter))
        header = [h.strip().strip('"').strip("\ufeff").strip() for h in header]
        columns = map_columns(header, fmt, mapping)
    except (ImportFileError, UnicodeDecodeError, csv.Error) as exc:
        stream.close()
        if isinstance(exc, UnicodeDecodeError):
            raise ImportFileError(f"the header is not valid {encoding} text") from None
        raise
    rows = csv.reader(stream, delimiter=delimiter)
    return OpenedFile(encoding, delimiter, header, columns, rows, stream)


def numbered(opened: OpenedFile) -> Iterator[tuple[int, list[str], str | None]]:
    """The file's rows with the line each starts on (the header is line 1; a quoted cell that
    runs over several lines counts them all), and why a row cannot be trusted, if it cannot.

    A quoted cell may hold line breaks (addresses and remarks in real exports do). But a quote
    left open makes the csv reader carry on to the next quote, swallowing the rows in between
    into one cell, often with the right number of columns. The rows it swallowed are still
    there, with every separator: a line inside the row that holds as many separators as a
    whole row has (the header's width less one) is taken for a swallowed row, and the row is
    refused with the lines it spans, so it goes to the rejects file instead of an order."""
    rows: Any = opened.rows
    width, delimiter = len(opened.header), opened.delimiter
    end = 1
    for row in rows:
        start, end = end + 1, rows.line_num + 1
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
                f"mapping names unknown field {field_name!r}; fields of {fmt.source} "
                f"{fmt.kind}: {', '.join(fmt.columns)}"
            )
        if file_header not in index:
            raise ImportFileError(f"mapping names column {file_header!r}, not in the file header")
        columns[field_name] = index[file_header]
    missing = [group for group in fmt.required if not any(f in columns for f in group)]
    if missing:
        need = "; ".join(
            " or ".join(f"{f} ({'/'.join(fmt.columns[f])})" for f in group) for group in missing
        )
        raise ImportFileError(
            f"missing required column(s) for {fmt.title}: {need}. "
            f"The file's header is: {', '.join(header[:30])}"
        )
    return columns
