"""Excel/WPS workbooks import as the CSV of the same data does: one workbook per platform's
real header set, its cells typed as Excel stores them (phones and amounts as numbers, times as
dates, long ids as text), gives the same orders, customers and rejects as the CSV; and hostile
workbooks (zip bombs, a dense-grid bomb, formulas, numbers that lost digits, files that only
claim to be workbooks) are refused or read safely."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from siyu.ingest.columns import OrderColumns
from siyu.ingest.formats import get_format
from siyu.ingest.members import read_members
from siyu.ingest.orders import import_orders
from siyu.ingest.parse import Reject
from siyu.ingest.pipeline import ParseJob, _parse, _unpack
from siyu.ingest.reader import ImportFileError, open_export
from siyu.ingest.service import ImportSummary
from siyu.ingest.workbook import as_csv, cell_text
from tests import platform_files as pf
from tests.conftest import write_csv
from tests.xlsx_files import Formula, Raw, write_xlsx

ORDER_HEADERS = {
    "taobao": pf.TAOBAO_HEADER,
    "jd": pf.JD_HEADER,
    "youzan": pf.YOUZAN_HEADER,
    "douyin": pf.DOUYIN_HEADER,
    "pos": pf.POS_HEADER,
    "csv": pf.CSV_HEADER,
}
MONEY = {"amount", "total", "refund", "unit_price", "line_amount"}
TIMES = {"ordered_at", "paid_at", "registered_at", "consent_at"}


def fields_of(kind: str, source: str) -> dict[str, str]:
    fmt = get_format(kind, source)
    return {h: f for f, headers in fmt.columns.items() for h in headers}


def order_value(field: str | None, n: int, line: int, fmt_status: list[str]) -> str:
    """A valid cell of an order export, as text (the CSV's form)."""
    order = 100_000_000_000 + n
    return {
        "order_id": f"39{order:017d}" if n % 2 else str(order),  # long ids come as text
        "line_id": f"{order}{line}",
        "buyer_id": f"buyer_{n % 4}",
        "member_id": f"M{n % 5:04d}",
        "phone": f"1380000{n % 6:04d}" if n != 3 else "138****1234",  # one masked: a reject
        "email": f"user{n}@qq.com",
        "name": "王芳",
        "status": fmt_status[n % len(fmt_status)],
        "ordered_at": f"2026-06-{n % 28 + 1:02d} 10:05:00",
        "paid_at": f"2026-06-{n % 28 + 1:02d} 10:06:3{n % 10}",
        "amount": f"{59 + n}.90" if n != 5 else "abc",  # one bad amount: a reject
        "total": f"{59 + n}.90",
        "refund": "0.00",
        "quantity": str(line + 1),
        "unit_price": "29.95",
        "line_amount": f"{20 + line}.50",
        "sku": str(123456 + line) if n % 3 else f"SK-{line}",
        "product": "修护精华 30ml",
        "category": "护肤",
        "store": "S01",
        "store_name": "杭州湖滨店",
        "shop": "品牌官方旗舰店",
        "address": "浙江省 杭州市 西湖区 文三路 100号",
        "province": "浙江省",
        "city": "杭州市",
        "after_sale": "",
        "platform": "",
    }.get(field or "", "")


def typed(field: str | None, text: str) -> Any:
    """The cell as Excel keeps it: numbers as numbers, times as dates, long ids as text."""
    if not text:
        return None
    if field in TIMES:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    if field in MONEY and text.replace(".", "").isdigit():
        return float(text)
    if field == "quantity":
        return int(text)
    if field == "phone" and text.isdigit():
        return float(text)  # Excel keeps a phone as the number 1.38000000E10
    if field in ("order_id", "line_id", "sku") and text.isdigit() and len(text) <= 15:
        return int(text)
    return text


def order_rows(source: str) -> list[list[str]]:
    fmt = get_format("orders", source)
    fields = fields_of("orders", source)
    statuses = [s for s in fmt.statuses if fmt.statuses[s] in ("completed", "paid")][:3]
    priced = {"line_amount", "unit_price"} & {fields.get(h) for h in ORDER_HEADERS[source]}
    rows = []
    for n in range(12):
        for line in range(2 if fmt.rows == "line" and priced and n % 2 == 0 else 1):
            rows.append(
                [order_value(fields.get(h), n, line, statuses) for h in ORDER_HEADERS[source]]
            )
    return rows


def parsed(path: Path, source: str) -> tuple[OrderColumns, list[Reject]]:
    job = ParseJob(path, source, {}, "b", "", "Asia/Shanghai", batch_rows=4)
    orders, rejects = OrderColumns(), []
    for message in _parse(job):
        batch = _unpack(message)
        for name in OrderColumns.__dataclass_fields__:
            getattr(orders, name).extend(getattr(batch.orders, name))
        rejects.extend(batch.rejects)
    return orders, rejects


def without_digest(c: OrderColumns) -> dict[str, list[Any]]:
    return {n: getattr(c, n) for n in OrderColumns.__dataclass_fields__ if n != "digest"}


@pytest.mark.parametrize("source", sorted(ORDER_HEADERS))
def test_a_workbook_gives_the_orders_its_csv_gives(tmp_path: Path, source: str) -> None:
    header, rows = ORDER_HEADERS[source], order_rows(source)
    fields = fields_of("orders", source)
    csv_path = write_csv(tmp_path / "o.csv", header, rows)  # type: ignore[arg-type]
    book = write_xlsx(
        tmp_path / "o.xlsx",
        [
            header,
            *([typed(fields.get(h), c) for h, c in zip(header, r, strict=True)] for r in rows),
        ],
    )
    want_orders, want_rejects = parsed(csv_path, source)
    with as_csv(book, tmp_path / "work", max_unpacked=10**8, max_memory=2 * 1024**3) as (
        converted,
        kind,
    ):
        assert kind == "xlsx"
        got_orders, got_rejects = parsed(converted, source)
    assert len(want_orders) >= 8 and want_rejects  # the sample holds orders and rejects
    assert without_digest(got_orders) == without_digest(want_orders)
    assert [(r.reason, [n for n, _row in r.rows]) for r in got_rejects] == [
        (r.reason, [n for n, _row in r.rows]) for r in want_rejects
    ]
    assert not list((tmp_path / "work").iterdir())  # the converted CSV is gone


def member_rows(source: str) -> tuple[list[str], list[list[str]]]:
    fmt = get_format("customers", source)
    header = [headers[0] for headers in fmt.columns.values()]
    values = {
        "member_id": lambda n: f"M{n:05d}",
        "phone": lambda n: f"1391234{n:04d}",
        "email": lambda n: f"m{n}@163.com",
        "unionid": lambda n: f"o6_bmjrPTlm6_2sgVt7hMZOPfL{n}",
        "buyer_id": lambda n: f"tb_{n}",
        "name": lambda n: "李娜",
        "gender": lambda n: "女",
        "birthday": lambda n: "1990-05-0" + str(n % 9 + 1),
        "province": lambda n: "广东省",
        "city": lambda n: "深圳市",
        "store": lambda n: "S01",
        "store_name": lambda n: "深圳店",
        "registered_at": lambda n: f"2025-0{n % 9 + 1}-01 09:30:00",
        "sms_consent": lambda n: "是" if n % 2 else "否",
        "email_consent": lambda n: "",
        "consent_evidence": lambda n: "门店会员登记表",
        "consent_at": lambda n: "2025-01-01 09:30:00",
        "do_not_disturb": lambda n: "是" if n % 3 == 0 else "",
        "openid": lambda n: f"oAbCd-member-{n:05d}",
        "oa_appid": lambda n: "wx1234567890abcdef",
    }
    identities = {"member_id", "phone", "email", "unionid", "buyer_id", "openid"}
    rows = [
        [
            "1.38E+10" if n == 2 and f == "phone" else "null" if n == 2 and f in identities else v
            for f, v in ((f, values[f](n)) for f in fmt.columns)
        ]
        for n in range(8)
    ]  # row 2 has no usable identity: a reject
    return header, rows


def members(path: Path, source: str) -> list[Any]:
    fmt = get_format("customers", source)
    opened = open_export(path, fmt, {})
    try:
        return list(read_members(opened, fmt, "b", ZoneInfo("Asia/Shanghai"), ImportSummary()))
    finally:
        opened.close()


@pytest.mark.parametrize("source", ["csv", "pos", "taobao", "youzan"])
def test_a_member_workbook_gives_the_customers_its_csv_gives(tmp_path: Path, source: str) -> None:
    header, rows = member_rows(source)
    fmt = get_format("customers", source)
    names = list(fmt.columns)
    csv_path = write_csv(tmp_path / "m.csv", header, rows)  # type: ignore[arg-type]
    typed_rows = [
        [
            datetime.strptime(c, "%Y-%m-%d").date()
            if names[i] == "birthday"
            else typed(names[i], c)
            for i, c in enumerate(r)
        ]
        for r in rows
    ]
    book = write_xlsx(tmp_path / "m.xlsx", [header, *typed_rows])
    want = members(csv_path, source)
    with as_csv(book, tmp_path / "work", max_unpacked=10**8, max_memory=2 * 1024**3) as (
        converted,
        _kind,
    ):
        got = members(converted, source)

    def comparable(items: list[Any]) -> list[Any]:
        return [i[:2] if isinstance(i, tuple) else i for i in items]  # a reject's row differs

    assert comparable(got) == comparable(want)
    assert any(isinstance(i, tuple) for i in want) and len(want) == 8


def test_cells_become_the_text_the_parsers_expect() -> None:
    from datetime import date, time, timedelta

    assert cell_text(1.3812345678e10) == "13812345678"
    assert cell_text(13812345678) == "13812345678"
    assert cell_text(59.9) == "59.9" and cell_text(1299.0) == "1299"
    assert cell_text(float(2**53 + 2)) == "9007199254740994.0" or "e+" in cell_text(
        float(2**53 + 2)
    )
    assert cell_text(3.123456789012346e18) == "3.123456789012346e+18"  # digits already lost
    assert cell_text(datetime(2026, 6, 18, 10, 5)) == "2026-06-18 10:05:00"
    assert cell_text(datetime(2026, 6, 18, 10, 5, 0, 499_600)) == "2026-06-18 10:05:00.500"
    assert cell_text(date(1990, 5, 1)) == "1990-05-01"
    assert cell_text(time(9, 30)) == "09:30:00"
    assert cell_text(timedelta(hours=26, minutes=3)) == "26:03:00"
    assert cell_text(True) == "TRUE" and cell_text("") == "" and cell_text(None) == ""


def test_a_workbook_import_stores_what_the_sheet_says(engine, settings, tmp_path: Path) -> None:
    """Typed cells end up as Siyu stores them: E.164 phones, ids with every digit, Beijing
    times in UTC; line numbers in the rejects file are the sheet's row numbers."""
    from siyu.customers.models import Identity
    from siyu.orders.models import Order

    row = pf.taobao_row("3912345678901234567", "tb_wang", "", "59.90")
    typed_row: list[Any] = list(row)
    i = pf.TAOBAO_HEADER.index
    typed_row[i("联系手机")] = 13812345678.0
    typed_row[i("买家实际支付金额")] = 59.9
    typed_row[i("订单付款时间")] = datetime(2026, 6, 18, 10, 5)
    bad = list(typed_row)
    bad[i("订单编号")] = Raw("3912345678901234568")  # a number: Excel kept 15 digits of it
    formula = list(typed_row)
    formula[i("订单编号")] = "3912345678901234569"
    formula[i("买家实际支付金额")] = Formula("=1+1", "2")
    formula[i("宝贝标题")] = Formula('=HYPERLINK("http://x.example/","点我")', "点我")
    book = write_xlsx(
        tmp_path / "淘宝订单.xlsx", [[], pf.TAOBAO_HEADER, typed_row, [], bad, formula]
    )
    s = import_orders(engine, settings, book, "taobao", actor="test")
    assert s.encoding == "xlsx" and s.inserted == 2 and s.rejected_total == 1, s.as_dict()
    assert "rounded by Excel" in next(iter(s.rejected))
    assert s.rejects_path and "淘宝订单" in s.rejects_path
    text = Path(s.rejects_path).read_text(encoding="utf-8-sig")
    assert text.splitlines()[1].startswith("5,")  # the bad order is on the sheet's row 5
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(Order.platform_order_id, Order.paid_fen, Order.paid_at).order_by(
                Order.platform_order_id
            )
        ).all()
        phones = set(
            conn.execute(sa.select(Identity.value).where(Identity.kind == "phone")).scalars()
        )
    assert [(o, f) for o, f, _t in stored] == [
        ("3912345678901234567", 5990),
        ("3912345678901234569", 200),  # the formula's saved value, never evaluated
    ]
    assert stored[0][2].replace(tzinfo=None) == datetime(2026, 6, 18, 2, 5)  # 10:05 Beijing
    assert phones == {"+8613812345678"}
    assert not list((settings.data_dir / "work").iterdir())


def test_the_cli_imports_a_workbook(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from siyu.cli import app

    rows = [pf.taobao_row("7001", "tb_a", "13812347001", "10.00")]
    book = write_xlsx(tmp_path / "tb.xlsx", [pf.TAOBAO_HEADER, *rows])
    out = CliRunner().invoke(
        app,
        ["import", "orders", str(book), "--platform", "taobao", "--json"],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["inserted"] == 1 and json.loads(out.stdout)["encoding"] == "xlsx"
    members = write_xlsx(tmp_path / "m.xlsx", [["customer_id", "phone"], ["M1", 13912345678.0]])
    out = CliRunner().invoke(
        app, ["import", "customers", str(members), "--source", "csv", "--json"]
    )
    assert out.exit_code == 0 and json.loads(out.stdout)["inserted"] == 1, out.output


# -- hostile workbooks ---------------------------------------------------------------------------
SHEET = (
    '<?xml version="1.0" encoding="UTF-8"?><worksheet '
    'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{}</sheetData>'
    "</worksheet>"
)


def refused(engine, settings, path: Path, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ImportFileError, match=match):
        import_orders(engine, settings, path, "csv", actor="test")
    with engine.connect() as conn:
        assert conn.execute(sa.text('SELECT count(*) FROM "order"')).scalar() == 0
    work = settings.data_dir / "work"
    assert not work.exists() or not list(work.iterdir())


def test_a_zip_bomb_is_refused_while_unpacking(
    engine, settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shared strings that unpack a thousandfold: counted as they come out, refused at the
    limit, before calamine is asked to hold them."""
    from siyu.config import get_settings, reset_settings

    monkeypatch.setenv("SIYU_IMPORT_XLSX_MAX_UNPACKED_BYTES", str(20 * 1024**2))
    reset_settings()
    huge = (
        b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
        b'2006/main"><si><t>' + b"A" * (200 * 1024**2) + b"</t></si></sst>"
    )
    book = write_xlsx(
        tmp_path / "bomb.xlsx",
        [["order_id", "phone", "paid_at", "amount"]],
        extra={"xl/sharedStrings.xml": huge},
    )
    assert book.stat().st_size < 1024**2  # under a megabyte on the wire
    refused(engine, get_settings(), book, "unpacks to more than 20 MiB")


def test_a_dense_grid_bomb_is_refused_by_the_memory_limit(
    engine, settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two cells, A1 and XFD1048576: calamine would lay out seventeen billion cells. The child
    reading it hits its memory limit and the import is refused; this process is unharmed."""
    from siyu.config import get_settings, reset_settings

    monkeypatch.setenv("SIYU_IMPORT_XLSX_MAX_MEMORY_BYTES", str(512 * 1024**2))
    reset_settings()
    cells = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>order_id</t></is></c></row>'
        '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    )
    book = write_xlsx(
        tmp_path / "grid.xlsx", [["x"]], extra={"xl/worksheets/sheet1.xml": SHEET.format(cells)}
    )
    refused(engine, get_settings(), book, "needs more memory")


def test_entities_in_a_workbook_are_not_expanded(engine, settings, tmp_path: Path) -> None:
    """A billion-laughs DOCTYPE in the shared strings: never expanded (refused or read as it
    stands), and quickly."""
    import time

    laughs = (
        '<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">'
        + "".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + ']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        "<si><t>&i;</t></si></sst>"
    ).encode()
    book = write_xlsx(
        tmp_path / "laughs.xlsx",
        [["order_id", "phone", "paid_at", "amount"], ["1", "13812345678", "2026-01-01", "1"]],
        extra={"xl/sharedStrings.xml": laughs},
    )
    started = time.monotonic()
    try:
        s = import_orders(engine, settings, book, "csv", actor="test")
    except ImportFileError:
        pass
    else:
        assert s.read <= 1
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("x.xlsx", b"PK\x03\x04" + b"\x00" * 200, "cannot be read as one"),  # a broken zip
        ("x.xlsx", bytes(range(256)) * 4, "binary file"),
        ("x.xls", b"<html><body><table><tr><td>1</td></tr></table></body></html>", "web page"),
        ("x.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "cannot be read"),
        ("empty.xlsx", b"", "empty"),
    ],
)
def test_files_that_only_claim_to_be_workbooks(
    engine, settings, tmp_path: Path, name: str, content: bytes, match: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    refused(engine, settings, path, match)


def test_a_zip_that_is_not_a_workbook_and_a_workbook_without_data(
    engine, settings, tmp_path: Path
) -> None:
    docx = tmp_path / "letter.xlsx"
    with zipfile.ZipFile(docx, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    refused(engine, settings, docx, "not an Excel workbook")
    blank = write_xlsx(tmp_path / "blank.xlsx", [])
    refused(engine, settings, blank, "no sheet with data")


def test_content_decides_not_the_name(engine, settings, tmp_path: Path) -> None:
    """A CSV saved under .xlsx is read as the CSV it is; a workbook saved as .csv as the
    workbook it is."""
    text = tmp_path / "really-a-csv.xlsx"
    text.write_text("order_id,phone,paid_at,amount\nA1,13812345678,2026-01-01 10:00:00,5\n")
    s = import_orders(engine, settings, text, "csv", actor="test")
    assert s.inserted == 1 and s.encoding == "utf-8"
    book = write_xlsx(
        tmp_path / "really-a-book.csv",
        [["order_id", "phone", "paid_at", "amount"], ["A2", 13812345679.0, "2026-01-01", 6]],
    )
    s = import_orders(engine, settings, book, "csv", actor="test")
    assert s.inserted == 1 and s.encoding == "xlsx"
