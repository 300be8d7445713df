"""CSV that spreadsheets open as text, never as formulas (CSV/formula injection).

Excel, WPS and LibreOffice evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@``
(``=HYPERLINK(…)``, ``+cmd|…``, ``@SUM(…)``, ``-2+3``), and some strip a leading tab or carriage
return first. Siyu writes user-controlled text into CSV — customer and store names, audit
details, rejected import rows — so every CSV Siyu writes goes through this module:
``writer``/``DictWriter`` put one ``'`` before such a text cell (the quote prefix, which the
spreadsheet shows as text and does not evaluate).

What counts as dangerous (``dangerous``), decided as follows:
- the first character is one of ``= + - @`` or a tab, carriage return or line feed;
- the first character after leading blanks (spaces, the ideographic space U+3000, no-break
  space) is one of ``= + - @``: some readers trim cells before they look;
- the full-width forms ``＝ ＋ － ＠`` likewise: Chinese input methods type them, and
  spreadsheets that normalise full-width characters (WPS's half-width conversion, Excel's ASC)
  can turn them into formulas. A visible ``'`` on such a rare cell is the cheaper mistake;
- a cell already starting with ``'`` followed by a dangerous text gets one more ``'``, so that
  taking one off (``unquote``, as the importers do) always gives back the original.

Only text is touched: numbers Siyu itself writes (ints, floats, Decimals — a refund of
``-12.50`` yuan) stay numbers, so the caller passes them as numbers, not formatted strings.

Reading back: the importers take one such ``'`` off free-text fields (``unquote``), so a
rejects file fixed by hand imports as it was exported; identities, amounts, times and SKUs
already ignore leading apostrophes.
"""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable
from decimal import Decimal
from typing import IO, Any

FORMULA_START = frozenset("=+-@＝＋－＠")
CONTROL_START = frozenset("\t\r\n")


def dangerous(text: str) -> bool:
    """Whether a spreadsheet might read this text cell as a formula (see the module doc)."""
    core = text.lstrip("'")
    if not core:
        return False
    if core[0] in CONTROL_START:
        return True
    trimmed = core.lstrip()  # str.lstrip takes U+3000 and no-break spaces too
    return bool(trimmed) and trimmed[0] in FORMULA_START


def safe_cell(value: Any) -> Any:
    """A cell as it may be written: numbers and empty cells as they are, text with a ``'``
    before it when a spreadsheet might evaluate it."""
    if value is None or isinstance(value, (bool, int, float, Decimal)):
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text and dangerous(text) else text


def unquote(text: str | None) -> str | None:
    """A cell read back: the one ``'`` that ``safe_cell`` added taken off (anything else is
    left as it is)."""
    if not text or text[0] != "'" or not dangerous(text[1:]):
        return text
    return text[1:]


class SafeWriter:
    """``csv.writer`` whose rows go through ``safe_cell``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def dialect(self) -> Any:
        return self._inner.dialect

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._inner.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(fh: IO[str], **options: Any) -> SafeWriter:
    """The ``csv.writer`` of every CSV Siyu writes."""
    return SafeWriter(csv.writer(fh, **options))


def internal_writer(fh: IO[str], **options: Any) -> Any:
    """A plain ``csv.writer`` for a file only Siyu reads back and never offers to a person
    (a workbook's sheet turned into the CSV the importer reads): a guard there would change
    the imported values."""
    return csv.writer(fh, **options)


class DictWriter(csv.DictWriter):
    """``csv.DictWriter`` whose rows (and header) go through ``safe_cell``."""

    def __init__(self, fh: IO[str], fieldnames: Collection[str], **options: Any) -> None:
        super().__init__(fh, fieldnames, **options)
        self.writer = SafeWriter(self.writer)  # type: ignore[assignment]
