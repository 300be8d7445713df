"""The fast lane gives exactly what the row parser gives: the same orders, the same rejects.

Rows start as valid exports of each platform's real header set; hypothesis then spoils cells
(masked phones, Excel numbers, unknown statuses, bad times, blanks, the quote prefix of a
rejects file before formula characters), cuts or pads rows, and
repeats order ids (multi-line orders and re-exported rows). The pipeline's blocks are tiny, so
orders held back across a block boundary are covered too.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.ingest.columns import OrderColumns
from siyu.ingest.formats import get_format
from siyu.ingest.parse import OrderParser, ParsedOrder, Reject
from siyu.ingest.pipeline import ParseJob, _parse, _unpack
from siyu.ingest.reader import open_export
from tests import platform_files as pf
from tests.conftest import write_csv

HEADERS = {
    "taobao": pf.TAOBAO_HEADER,
    "jd": pf.JD_HEADER,
    "youzan": pf.YOUZAN_HEADER,
    "douyin": pf.DOUYIN_HEADER,
    "pos": pf.POS_HEADER,
    "csv": pf.CSV_HEADER,
}

SAMPLES: dict[str, list[str]] = {
    "order_id": ["100001", "100002", "'100003", "100004.0", "", "3.12346E+18"],
    "buyer_id": ["tb_wang", "tb_li", "0", "null"],
    "member_id": ["M0001", "M0002", "1.2E+5"],
    "phone": ["13812345678", "13912345679", "138****1234", "1.3812345678E+10", "'13700001111"],
    "email": ["fang@qq.com", "x@example.com"],
    "name": ["王芳", "张*", "李" * 60, "'=HYPERLINK(1)", "''=x", "'王芳"],
    "ordered_at": ["2026-06-18 10:05:00", "2026/06/18 10:05", "1990-01-01 00:00:00", "45000"],
    "paid_at": ["2026-06-18 10:06:00", "", "2026-13-45 25:61:00", "2026-06-18T10:06:00+08:00"],
    "amount": ["59.90", "¥1,299.00", "-30", "0", "abc"],
    "total": ["59.90", "", "-"],
    "refund": ["0.00", "10", "", "59.90"],
    "quantity": ["1", "2", "", "0", "1.5"],
    "line_amount": ["59.90", ""],
    "unit_price": ["29.95", ""],
    "sku": ["SK-1", "'00123", "123.0", ""],
    "product": ["修护精华 30ml", "", "面" * 400, "'-小样-"],
    "category": ["护肤", "", "'@护肤"],
    "store": ["S01", "", "'-S02"],
    "store_name": ["杭州湖滨店", "", "'+杭州店"],
    "shop": ["品牌官方旗舰店", ""],
    "address": ["浙江省 杭州市 西湖区 文三路 100号", "上海市 上海市 徐汇区", "", "'=浙江省 杭州市"],
    "province": ["浙江省", "内蒙古自治区", "", "'＝浙江省"],
    "city": ["杭州市", "", "' -杭州市", "O'Hare"],
    "after_sale": ["", "退款成功", "售后关闭"],
}
JUNK = ["", " ", "null", "-", "交易成功", "1e400", "9" * 30, "'", '="1"']


def field_of(source: str) -> dict[str, str]:
    fmt = get_format("orders", source)
    return {h: f for f, headers in fmt.columns.items() for h in headers}


@st.composite
def export_rows(draw: st.DrawFn, source: str) -> list[list[str]]:
    fmt = get_format("orders", source)
    fields = field_of(source)
    statuses = [*fmt.statuses, "", "某种状态"]
    rows = []
    for _ in range(draw(st.integers(1, 10))):
        row = []
        for header in HEADERS[source]:
            name = fields.get(header)
            pool = statuses if name == "status" else SAMPLES.get(name or "", [""])
            if draw(st.integers(0, 9)) == 0:
                row.append(
                    draw(
                        st.sampled_from(JUNK)
                        | st.text(
                            st.characters(
                                blacklist_categories=("Cs",), blacklist_characters="\x00"
                            ),
                            max_size=6,
                        )
                    )
                )
            else:
                row.append(draw(st.sampled_from(pool)))
        cut = draw(st.integers(0, 12))
        if cut == 1:
            row = row[: draw(st.integers(0, len(row)))]
        elif cut == 2:
            row = [*row, "extra"]
        rows.append(row)
    return rows


def reference(path: Path, source: str) -> tuple[OrderColumns, list[Reject]]:
    fmt = get_format("orders", source)
    opened = open_export(path, fmt, {})
    try:
        parser = OrderParser(fmt, opened, brand_code="b", shop="", tz=ZoneInfo("Asia/Shanghai"))
        items = list(parser)
    finally:
        opened.close()
    orders = [i for i in items if isinstance(i, ParsedOrder)]
    return OrderColumns.of(orders), [i for i in items if isinstance(i, Reject)]


def through_the_lane(path: Path, source: str) -> tuple[OrderColumns, list[Reject]]:
    job = ParseJob(path, source, {}, "b", "", "Asia/Shanghai", batch_rows=3)
    orders, rejects = OrderColumns(), []
    for message in _parse(job):
        batch = _unpack(message)
        for name in OrderColumns.__dataclass_fields__:
            getattr(orders, name).extend(getattr(batch.orders, name))
        rejects.extend(batch.rejects)
    return orders, rejects


@pytest.mark.parametrize("source", sorted(HEADERS))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_lanes_agree(tmp_path: Path, source: str, data: st.DataObject) -> None:
    rows = data.draw(export_rows(source))
    path = write_csv(tmp_path / f"{source}.csv", HEADERS[source], rows)  # type: ignore[arg-type]
    want_orders, want_rejects = reference(path, source)
    got_orders, got_rejects = through_the_lane(path, source)
    assert got_orders == want_orders
    assert sorted((r.reason, r.rows) for r in got_rejects) == sorted(
        (r.reason, r.rows) for r in want_rejects
    )


@pytest.mark.parametrize("source", ["taobao", "jd"])
def test_a_regular_export_takes_the_fast_lane(tmp_path: Path, monkeypatch, source: str) -> None:  # type: ignore[no-untyped-def]
    """Regular rows never reach the row parser (else the lane would only be a detour), orders
    on several rows included."""
    if source == "taobao":
        rows = [
            pf.taobao_row(f"9{i:05d}", f"tb_{i % 7}", f"1381234{i:04d}", "59.90") for i in range(50)
        ]
        path, orders_in_file = pf.taobao(tmp_path / "t.csv", rows), 50
    else:
        rows = [
            pf.jd_row(f"8{i // 2:05d}", f"SKU{i % 3}", "面霜", 1, "29.95", "59.90", f"jd_{i % 5}")
            for i in range(50)
        ]
        path, orders_in_file = pf.jd(tmp_path / "j.csv", rows), 25
    calls = []
    real = OrderParser.build
    monkeypatch.setattr(OrderParser, "build", lambda self, g: calls.append(g) or real(self, g))
    orders, rejects = through_the_lane(path, source)
    assert len(orders) == orders_in_file and not rejects and not calls
    assert all(len(lines) == (1 if source == "taobao" else 2) for lines in orders.lines)


@st.composite
def spoiled_quotes(draw: st.DrawFn, source: str) -> str:
    """An export's text with quotes left open (and sometimes closed further down) and cells
    that really hold line breaks."""
    rows = draw(export_rows(source))
    for row in rows:
        if row and draw(st.integers(0, 4)) == 0:
            i = draw(st.integers(0, len(row) - 1))
            row[i] = f"{row[i]}\n{draw(st.sampled_from(['西湖区', '3 楼, 301', ',,', '']))}"
    lines = []
    for row in [HEADERS[source], *rows]:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(row)
        lines.append(buf.getvalue())
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, len(lines) - 1))
        commas = [i for i, ch in enumerate(lines[n]) if ch == ","]
        if commas:
            at = draw(st.sampled_from(commas)) + 1
            lines[n] = lines[n][:at] + '"' + lines[n][at:]
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + "\n"


@pytest.mark.parametrize("source", ["taobao", "jd", "csv"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_lanes_agree_on_quotes_left_open(
    tmp_path: Path, source: str, data: st.DataObject
) -> None:
    path = tmp_path / f"{source}.csv"
    path.write_text(data.draw(spoiled_quotes(source)), encoding="utf-8", newline="")
    want_orders, want_rejects = reference(path, source)
    got_orders, got_rejects = through_the_lane(path, source)
    assert got_orders == want_orders
    assert sorted((r.reason, r.rows) for r in got_rejects) == sorted(
        (r.reason, r.rows) for r in want_rejects
    )


def test_a_swallowed_row_is_rejected_by_both_lanes(tmp_path: Path) -> None:
    rows = [pf.taobao_row(f"60{i:02d}", f"tb_{i}", f"138123460{i:02d}", "10.00") for i in range(5)]
    lines = []
    for row in [pf.TAOBAO_HEADER, *rows]:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(row)
        lines.append(buf.getvalue())
    lines[2] = lines[2].replace(",王芳,", ',"王芳,', 1)
    lines[4] = lines[4].replace(",王芳,", ',"王芳",', 1)
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for orders, rejects in (reference(path, "taobao"), through_the_lane(path, "taobao")):
        assert orders.order_id == ["6000", "6004"]
        [reject] = rejects
        assert [n for n, _row in reject.rows] == [3] and "line 3 to line 5" in reject.reason
