"""A quote left open in an export: the csv reader would carry on to the next quote and fold the
rows in between into one cell (a name, an address) of the first row. That row is rejected with
the lines it spans; the rows after it import; a cell that really holds line breaks (addresses
do) still imports, and the line numbers of what follows stay the file's own."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import sqlalchemy as sa

from siyu.customers.models import Identity
from siyu.ingest.customers import import_customers
from siyu.ingest.orders import import_orders
from siyu.orders.models import Order
from tests import platform_files as pf


def _text(header: list[str], rows: list[list[str]]) -> list[str]:
    """Each row as the line csv writes for it (no line breaks inside: the caller adds them)."""
    out = []
    for row in [header, *rows]:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(row)
        out.append(buf.getvalue())
    return out


def _order_ids(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return sorted(conn.scalars(sa.select(Order.platform_order_id)))


def _rejects(path: str | None) -> list[list[str]]:
    assert path
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))[1:]


def _taobao_lines(n: int) -> list[str]:
    rows = [pf.taobao_row(f"70{i:02d}", f"tb_{i}", f"138123470{i:02d}", "10.00") for i in range(n)]
    return _text(pf.TAOBAO_HEADER, rows)


def test_a_quote_left_open_rejects_the_row_that_swallowed_the_others(
    engine, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    lines = _taobao_lines(6)
    # line 3 (order 7001): its buyer's name opens a quote and never closes it; the next row
    # that quotes a cell (line 6, order 7004) closes it, three lines later
    lines[2] = lines[2].replace(",王芳,", ',"王芳,', 1)
    lines[5] = lines[5].replace(",王芳,", ',"王芳",', 1)
    path = tmp_path / "tb.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = import_orders(engine, settings, path, "taobao", actor="t")
    assert _order_ids(engine) == ["7000", "7005"]  # nothing taken from the swallowed rows
    [(line, reason, *row)] = _rejects(s.rejects_path)
    assert line == "3" and row[0] == "7001"
    assert "line 3 to line 6" in reason and "quote left open" in reason
    assert s.rejected_total == 1


def test_a_quote_open_to_the_end_of_the_file(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = _taobao_lines(4)
    lines[2] = lines[2].replace(",王芳,", ',"王芳,', 1)  # never closed: runs to the end
    path = tmp_path / "tb.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = import_orders(engine, settings, path, "taobao", actor="t")
    assert _order_ids(engine) == ["7000"]
    [(line, reason, *_row)] = _rejects(s.rejects_path)
    assert line == "3" and "line 3 to line 5" in reason


def test_real_line_breaks_in_a_cell_still_import(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rows = [pf.taobao_row(f"71{i:02d}", f"tb_{i}", f"138123471{i:02d}", "10.00") for i in range(4)]
    rows[1][10] = "浙江省 杭州市\n西湖区, 文三路 100号\n3 楼, 301 室"  # an address on three lines
    rows[2] = pf.taobao_row("7102", "tb_2", "13812347102", "ten")  # its reject names its line
    path = pf.taobao(tmp_path / "tb.csv", rows)
    s = import_orders(engine, settings, path, "taobao", actor="t")
    assert _order_ids(engine) == ["7100", "7101", "7103"]
    [(line, reason, *_row)] = _rejects(s.rejects_path)
    assert line == "6" and "amount" in reason  # header 1, 7100 on 2, 7101 on 3–5, 7102 on 6


def test_members_files_are_held_to_the_same_rule(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    header = ["customer_id", "name", "phone", "city"]
    lines = _text(
        header,
        [
            ["M1", "王芳", "13811118001", "杭州"],
            ["M2", "李雷", "13811118002", "上海"],
            ["M3", "韩梅梅", "13811118003", "北京"],
            ["M4", "张三", "13811118004", "深圳"],
        ],
    )
    lines[2] = lines[2].replace(",李雷,", ',"李雷,', 1)  # M2's name swallows M3
    lines[4] = lines[4].replace(",张三,", ',"张三",', 1)
    path = tmp_path / "m.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = import_customers(engine, settings, path, "csv", actor="t")
    with engine.connect() as conn:
        members = set(conn.scalars(sa.select(Identity.value).where(Identity.kind == "member_id")))
    assert members == {"M1"}
    [(line, reason, *row)] = _rejects(s.rejects_path)
    assert line == "3" and row[0] == "M2" and "quote left open" in reason
