"""Order importers: every platform's real header set, idempotent re-import, rejects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from siyu.customers.models import Customer, Identity
from siyu.ingest.orders import import_orders
from siyu.ingest.reader import ImportFileError
from siyu.orders.models import Order, OrderLine
from tests import platform_files as pf
from tests.conftest import write_csv


def run(engine, settings, path: Path, source: str, **kw):  # type: ignore[no-untyped-def]
    return import_orders(engine, settings, path, source, actor="test", **kw)


def orders(engine) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(sa.select(Order.__table__).order_by(Order.platform_order_id)).all()


def lines(engine) -> list:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(
            sa.select(OrderLine.__table__).order_by(OrderLine.order_id, OrderLine.line_no)
        ).all()


def test_taobao_gbk_export(engine, settings, tmp_path: Path) -> None:
    path = pf.taobao(
        tmp_path / "tb.csv",
        [
            pf.taobao_row("3001", "tb_wang", "13812345678", "89.00"),
            pf.taobao_row(
                "3002", "tb_wang", "138****5678", "120.50"
            ),  # masked phone: nick still links
            pf.taobao_row(
                "3003", "tb_li", "1.3911112222E+10", "59.90", name="李**"
            ),  # Excel, masked name
            pf.taobao_row(
                "3004", "tb_zhao", "'13700001111", "199.00", status="交易关闭", refund="199.00"
            ),
            pf.taobao_row("3005", "tb_qian", "", "50.00", status="等待买家付款", paid=""),
        ],
    )
    s = run(engine, settings, path, "taobao")
    assert s.encoding == "gb18030"
    assert (s.read, s.inserted, s.rejected_total) == (5, 5, 0)
    assert s.customers_created == 4
    rows = {o.platform_order_id: o for o in orders(engine)}
    assert rows["3002"].paid_fen == 12050
    assert rows["3001"].customer_id == rows["3002"].customer_id
    assert rows["3004"].status == "refunded" and rows["3004"].refund_fen == 19900
    assert rows["3005"].status == "pending" and rows["3005"].paid_at is None
    assert rows["3001"].paid_at.isoformat() == "2026-06-18T02:05:00+00:00"
    with engine.connect() as conn:
        phones = set(conn.scalars(sa.select(Identity.value).where(Identity.kind == "phone")))
        assert phones == {"+8613812345678", "+8613911112222", "+8613700001111"}
        names = set(conn.scalars(sa.select(Customer.name)))
        assert "李**" not in names and "王芳" in names
        cities = set(conn.scalars(sa.select(Customer.city)))
        assert cities == {"杭州"}


def test_jd_sku_rows_become_one_order_with_lines(engine, settings, tmp_path: Path) -> None:
    path = pf.jd(
        tmp_path / "jd.csv",
        [
            pf.jd_row("280001", "100011", "防晒乳", 2, "149.00", "397.00", "jd_li"),
            pf.jd_row("280001", "100012", "洁面乳", 1, "99.00", "397.00", "jd_li"),
            pf.jd_row(
                "280002", "100011", "防晒乳", 1, "149.00", "149.00", "jd_li", phone="13512345678"
            ),
        ],
    )
    s = run(engine, settings, path, "jd")
    assert (s.read, s.inserted) == (3, 2)
    o = {r.platform_order_id: r for r in orders(engine)}
    assert o["280001"].paid_fen == 39700
    ls = [ln for ln in lines(engine) if ln.order_id == o["280001"].id]
    assert [(ln.sku, ln.quantity, ln.amount_fen) for ln in ls] == [
        ("100011", 2, 29800),
        ("100012", 1, 9900),
    ]
    assert o["280001"].customer_id == o["280002"].customer_id


def test_youzan_douyin_pos_and_csv(engine, settings, tmp_path: Path) -> None:
    yz = write_csv(
        tmp_path / "yz.csv",
        pf.YOUZAN_HEADER,
        [
            [
                "E2026001",
                "交易成功",
                "2026-06-01 09:00:00",
                "2026-06-01 09:01:00",
                "面膜",
                "SK-1501",
                2,
                "99.00",
                "178.00",
                "20.00",
                "13600001111",
                "张三",
                "广东省",
                "深圳市",
                "某路",
            ],
        ],
    )
    dy = write_csv(
        tmp_path / "dy.csv",
        pf.DOUYIN_HEADER,
        [
            [
                "6900001",
                "6900001-1",
                "口红",
                "#02",
                1,
                "3601",
                "SK-1601",
                "199.00",
                "199.00",
                "0",
                "2026-06-18 20:00:00",
                "2026-06-18 20:00:30",
                "已完成",
                "退款成功",
                "赵六",
                "13600001111",
                "广东省",
                "深圳市",
                "南山区",
                "",
                "",
            ],
        ],
    )
    pos = write_csv(
        tmp_path / "pos.csv",
        pf.POS_HEADER,
        [
            [
                "R001",
                "M0001",
                "13600001111",
                "SZ01",
                "深圳万象城店",
                "2026-07-01 15:00:00",
                "SK-1001",
                "洁面乳",
                "洁面",
                1,
                "89.00",
                "89.00",
                "89.00",
                "销售",
            ],
            [
                "R002",
                "M0001",
                "",
                "SZ01",
                "深圳万象城店",
                "2026-07-02 15:00:00",
                "SK-1001",
                "洁面乳",
                "洁面",
                1,
                "89.00",
                "-89.00",
                "-89.00",
                "退货",
            ],
        ],
    )
    generic = write_csv(
        tmp_path / "g.csv",
        pf.CSV_HEADER,
        [
            [
                "G1",
                "M0001",
                "",
                "x@qq.com",
                "张三",
                "2026-08-01 10:00:00",
                "300",
                "paid",
                "SK-1302",
                "面霜",
                "面霜",
                1,
                "",
            ],
        ],
    )
    assert run(engine, settings, yz, "youzan").inserted == 1
    assert run(engine, settings, dy, "douyin").inserted == 1
    assert run(engine, settings, pos, "pos").inserted == 2
    assert run(engine, settings, generic, "csv").inserted == 1
    o = {r.platform_order_id: r for r in orders(engine)}
    assert o["E2026001"].status == "partially_refunded" and o["E2026001"].refund_fen == 2000
    assert o["6900001"].status == "refunded"
    assert o["R002"].status == "refunded" and o["R002"].refund_fen == 8900
    assert o["R001"].store_id is not None
    # one person across Youzan, Douyin and the store (phone), and the csv (member number)
    assert len({r.customer_id for r in o.values()}) == 1


def test_reimport_is_idempotent_and_changes_are_updates(engine, settings, tmp_path: Path) -> None:
    path = pf.taobao(
        tmp_path / "tb.csv", [pf.taobao_row(str(4000 + i), f"n{i}", "", "10.00") for i in range(30)]
    )
    first = run(engine, settings, path, "taobao")
    before = orders(engine)
    again = run(engine, settings, path, "taobao")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 30)
    assert orders(engine) == before
    changed = pf.taobao(
        tmp_path / "tb2.csv",
        [pf.taobao_row("4000", "n0", "", "10.00", status="交易关闭", refund="10.00")],
    )
    s = run(engine, settings, changed, "taobao")
    assert (s.updated, s.inserted) == (1, 0)
    assert first.customers_created == 30
    assert {o.platform_order_id: o.status for o in orders(engine)}["4000"] == "refunded"


def test_rejects_are_reported_with_line_and_reason(engine, settings, tmp_path: Path) -> None:
    path = pf.taobao(
        tmp_path / "tb.csv",
        [
            pf.taobao_row("5001", "ok", "13812345678", "10.00"),
            pf.taobao_row("5002", "null", "138****1111", "10.00"),  # no usable identity
            pf.taobao_row("5003", "x", "13812345679", "ten"),  # bad amount
            pf.taobao_row("5004", "y", "13812345670", "10.00", status="神秘状态"),
        ],
    )
    s = run(engine, settings, path, "taobao")
    assert s.inserted == 1 and s.rejected_total == 3
    assert any("no usable customer identity" in r for r in s.rejected)
    assert any("unknown order status" in r for r in s.rejected)
    text = Path(s.rejects_path).read_text(encoding="utf-8-sig")
    assert "5003" in text and "amount is not a number" in text
    assert text.splitlines()[1].startswith("3,")  # line 3 of the file


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        ("订单编号,买家会员名\n1,a\n".encode("gbk"), "missing required column"),
        (b"PK\x03\x04rest-of-zip", "Excel workbook"),
    ],
)
def test_files_that_cannot_be_imported(
    engine, settings, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        run(engine, settings, path, "taobao")
    assert orders(engine) == []


def test_directory_and_unknown_source(engine, settings, tmp_path: Path) -> None:
    from siyu.ingest.formats import UnknownSource

    with pytest.raises(ImportFileError, match="directory"):
        run(engine, settings, tmp_path, "taobao")
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    with pytest.raises(UnknownSource, match="taobao"):
        run(engine, settings, f, "amazon")


def test_missing_columns_are_named_with_expected_headers(engine, settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "g.csv", ["order_id", "phone"], [["1", "13812345678"]])
    with pytest.raises(ImportFileError) as exc:
        run(engine, settings, path, "csv")
    assert "paid_at" in str(exc.value) and "amount" in str(exc.value)


def test_mapping_file_renames_columns(engine, settings, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "m.csv",
        ["单号", "手机", "时间", "金额"],
        [["K1", "13812345678", "2026-01-01 10:00:00", "88"]],
    )
    mapping = tmp_path / "map.json"
    mapping.write_text(
        json.dumps({"单号": "order_id", "手机": "phone", "时间": "paid_at", "金额": "amount"})
    )
    s = run(engine, settings, path, "csv", mapping_path=mapping)
    assert s.inserted == 1
    mapping.write_text(json.dumps({"单号": "no_such_field"}))
    with pytest.raises(ImportFileError, match="unknown field"):
        run(engine, settings, path, "csv", mapping_path=mapping)


def test_batches_commit_independently(
    engine, settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIYU_IMPORT_BATCH_ROWS", "7")
    from siyu.config import get_settings, reset_settings

    reset_settings()
    rows = [pf.taobao_row(str(6000 + i), f"b{i % 5}", "", "1.00") for i in range(20)]
    path = pf.taobao(tmp_path / "tb.csv", rows)
    s = run(engine, get_settings(), path, "taobao")
    assert s.batches == 3 and s.inserted == 20 and s.customers_created == 5


def test_undecodable_bytes_midway_keep_earlier_batches(
    engine, settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIYU_IMPORT_BATCH_ROWS", "4000")
    from siyu.config import get_settings, reset_settings

    reset_settings()
    good = "".join(f"U{i},m{i},,2026-01-01 10:00:00,1\n" for i in range(20000))
    path = tmp_path / "u.csv"
    path.write_bytes(
        ("order_id,customer_id,phone,paid_at,amount\n" + good).encode() + b"\xff\xfe\xfa bad\n"
    )
    s = run(engine, get_settings(), path, "csv")
    assert s.error and "resume" in s.error
    assert len(orders(engine)) == s.inserted > 0


def test_large_files_parse_in_a_child_process(
    engine, settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.ingest import pipeline

    monkeypatch.setattr(pipeline, "INLINE_BELOW_BYTES", 0)
    rows = [pf.taobao_row(str(8000 + i), f"c{i % 7}", "", "3.00") for i in range(50)]
    rows.append(pf.taobao_row("8999", "x", "", "bad"))
    s = run(engine, settings, pf.taobao(tmp_path / "big.csv", rows), "taobao")
    assert (s.read, s.inserted, s.rejected_total, s.customers_created) == (51, 50, 1, 7)
    again = run(engine, settings, pf.taobao(tmp_path / "big.csv", rows), "taobao")
    assert again.unchanged == 50


def test_an_order_id_rounded_by_excel_is_refused(engine, settings, tmp_path: Path) -> None:
    """A CSV saved from Excel carries ``3.12346E+18`` where the order id was: refused, since
    every order of that shop whose id starts with the same digits would become one."""
    path = pf.taobao(
        tmp_path / "tb.csv",
        [
            pf.taobao_row("3.12346E+18", "tb_a", "13812345678", "10.00"),
            pf.taobao_row("3.12346E+18", "tb_b", "13812345679", "20.00"),
            pf.taobao_row("1E5", "tb_c", "13812345670", "30.00"),  # a shop's own id, kept
        ],
    )
    s = run(engine, settings, path, "taobao")
    assert s.inserted == 1 and s.rejected_total == 2
    assert all("rounded by Excel" in reason for reason in s.rejected)
