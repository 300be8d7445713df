"""PIPL export and erasure: nothing of the person is left in any table or in the file."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from siyu.customers.models import Customer
from siyu.events.schemas import EventIn
from siyu.events.service import ingest
from siyu.ingest.customers import import_customers
from siyu.ingest.orders import import_orders
from siyu.models import metadata
from siyu.privacy.models import Suppression
from siyu.privacy.service import (
    PrivacyError,
    erase_person,
    export_person,
    finish_erasure,
    scrub_storage,
)
from tests import platform_files as pf
from tests.conftest import write_csv

PHONE = "13957124680"
SECRETS = [
    "13957124680",
    "+8613957124680",
    "欧阳娜娜",
    "tb_ouyang",
    "M20260001",
    "nana@qq.com",
    "授权书-OY",
]


def load_person(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    members = write_csv(
        tmp_path / "m.csv",
        ["customer_id", "phone", "email", "name", "sms_consent", "consent_evidence"],
        [
            ["M20260001", PHONE, "nana@qq.com", "欧阳娜娜", "是", "授权书-OY"],
            ["M20260002", "13700000002", "", "钱多多", "", ""],
        ],
    )
    import_customers(engine, settings, members, "csv", actor="t")
    tb = pf.taobao(
        tmp_path / "tb.csv",
        [
            pf.taobao_row("9001", "tb_ouyang", "139****4680", "89.00", name="欧阳娜娜"),
            pf.taobao_row(
                "9002", "tb_ouyang", PHONE, "59.00", name="欧阳娜娜"
            ),  # links nick and phone: merge
            pf.taobao_row("9003", "tb_qian", "13700000002", "10.00", name="钱多多"),
            pf.taobao_row(
                "9004", "tb_ouyang", "bad-phone", "bad", name="欧阳娜娜"
            ),  # rejected: in rejects file
        ],
    )
    s = import_orders(engine, settings, tb, "taobao", actor="t")
    assert s.merges >= 1 and s.rejected_total == 1, str(s.as_dict())
    with engine.begin() as conn:
        ingest(
            conn,
            [
                EventIn.model_validate(
                    {
                        "type": "track",
                        "messageId": "ev-1",
                        "event": "浏览商品",
                        "traits": {"phone": PHONE},
                        "properties": {"sku": "SK-1"},
                    }
                )
            ],
            source="t",
            secret=settings.secret_key_bytes(),
        )


def scan(engine) -> list[str]:  # type: ignore[no-untyped-def]
    """Every value of every column of every table, as text."""
    found = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for r in conn.execute(sa.select(table)):
                for col, value in r._mapping.items():
                    text = str(value)
                    found.extend(f"{table.name}.{col}: {s}" for s in SECRETS if s in text)
    return found


def test_erasure_leaves_no_personal_data(engine, settings, session, tmp_path: Path) -> None:
    load_person(engine, settings, tmp_path)
    assert scan(engine), "the fixture must put the person's data in the tables"
    report = erase_person(session, settings, PHONE, "test")
    session.commit()
    storage = scrub_storage(session)
    assert scan(engine) == []
    assert report.suppressed_identities >= 4
    assert report.reject_rows_removed == 1
    for f in (settings.data_dir / "rejects").glob("*.csv"):
        assert "tb_ouyang" not in f.read_text(encoding="utf-8-sig")
    # the other person is untouched
    assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1
    if engine.dialect.name == "sqlite":
        assert "secure_delete" in storage
        db = Path(engine.url.database)
        raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
        for s in SECRETS:
            assert s.encode() not in raw, f"{s} still readable in the database file"
            assert s.encode("utf-16-le") not in raw


def test_suppression_is_an_hmac_not_a_plain_hash(engine, settings, session, tmp_path: Path) -> None:
    load_person(engine, settings, tmp_path)
    erase_person(session, settings, PHONE, "test")
    session.commit()
    digests = set(session.scalars(sa.select(Suppression.digest)))
    plain = hashlib.sha256(b"+8613957124680").hexdigest()
    assert plain not in digests and len(digests) >= 4


def test_erased_person_reimported_stays_suppressed(
    engine, settings, session, tmp_path: Path
) -> None:
    load_person(engine, settings, tmp_path)
    erase_person(session, settings, PHONE, "test")
    session.commit()
    tb = pf.taobao(tmp_path / "again.csv", [pf.taobao_row("9002", "tb_ouyang", PHONE, "59.00")])
    s = import_orders(engine, settings, tb, "taobao", actor="t")
    assert s.inserted == 1 and s.suppressed == 1
    c = session.scalar(
        sa.select(Customer).where(Customer.source == "taobao", Customer.suppressed.is_(True))
    )
    assert c is not None
    # a replayed event also lands on a suppressed profile
    with engine.begin() as conn:
        stored = ingest(
            conn,
            [
                EventIn.model_validate(
                    {
                        "type": "track",
                        "messageId": "ev-1",
                        "event": "浏览商品",
                        "traits": {"phone": PHONE},
                    }
                )
            ],
            source="t",
            secret=settings.secret_key_bytes(),
        )
    assert stored[0].status == "accepted"
    session.expire_all()
    assert session.get(Customer, stored[0].customer_id).suppressed


def test_export_holds_everything(engine, settings, session, tmp_path: Path) -> None:
    load_person(engine, settings, tmp_path)
    data = export_person(session, "139 5712 4680", "test")
    text = str(data)
    for s in ("+8613957124680", "欧阳娜娜", "tb_ouyang", "M20260001", "nana@qq.com"):
        assert s in text
    assert len(data["orders"]) == 2 and len(data["events"]) == 1 and len(data["consents"]) == 1
    with pytest.raises(PrivacyError, match="no customer"):
        export_person(session, "13600000000", "test")


# -- the analytical copy and every other file of the data directory -----------------------------
PERSON_FORMS = [
    "13957124680",
    "+8613957124680",
    "139 5712 4680",
    "139-5712-4680",
    "tb_ouyang",
    "欧阳娜娜",
    "nana@qq.com",
    "M20260001",
]


def _encodings(value: str) -> set[bytes]:
    """The bytes a value may take in a file: UTF-8, GBK (Chinese exports), UTF-16 (Excel's
    Unicode text) and JSON's \\u escapes."""
    import json

    out = {value.encode("utf-8"), value.encode("utf-16-le"), json.dumps(value)[1:-1].encode()}
    with contextlib.suppress(UnicodeEncodeError):
        out.add(value.encode("gbk"))
    return out


def files_of(settings, engine) -> list[Path]:  # type: ignore[no-untyped-def]
    """Every file under the data directory, and the SQLite database with its WAL and SHM."""
    files = [f for f in settings.data_dir.rglob("*") if f.is_file()]
    if engine.dialect.name == "sqlite":
        db = Path(engine.url.database)
        files += [f for f in db.parent.glob(db.name + "*") if f.is_file()]
    return files


def leftovers(settings, engine) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for f in files_of(settings, engine):
        raw = f.read_bytes()
        found += [f"{f.name}: {v}" for v in PERSON_FORMS if any(b in raw for b in _encodings(v))]
    return found


def person_in_the_copy(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The person as a mini-program reports them (an event whose properties carry the phone,
    the buyer id and the name), the copy refreshed, the Spark engine's Parquet exports and the
    dashboard's cache beside it."""
    from datetime import date

    import duckdb

    from siyu.analytics.service import refresh_copy
    from siyu.metrics.service import overview

    load_person(engine, settings, tmp_path)
    with engine.begin() as conn:
        ingest(
            conn,
            [
                EventIn.model_validate(
                    {
                        "type": "track",
                        "messageId": "ev-props",
                        "event": "提交订单",
                        "traits": {"phone": PHONE},
                        "properties": {
                            "mobile": "139 5712 4680",
                            "buyer": "tb_ouyang",
                            "收货人": "欧阳娜娜",
                            "email": "nana@qq.com",
                        },
                    }
                )
            ],
            source="t",
            secret=settings.secret_key_bytes(),
        )
    refresh_copy(settings, full=True)
    copy = settings.resolved_analytics_path
    exports = settings.data_dir / "parquet"
    exports.mkdir()
    with duckdb.connect(str(copy), read_only=True) as duck:  # as the Spark engine leaves them
        for table in ("event", "customer"):
            duck.execute(f"COPY \"{table}\" TO '{exports / table}.parquet' (FORMAT parquet)")
    overview(settings, date(2026, 6, 1), date(2026, 6, 30))
    assert any("tb_ouyang" in x for x in leftovers(settings, engine)), "the fixture must fill it"


def test_erasure_leaves_no_byte_of_the_person_in_any_file(
    engine, settings, session, tmp_path: Path
) -> None:
    """The copy kept the person's event properties in DuckDB's free blocks after the rows were
    deleted; the rebuilt copy, the removed Parquet exports and the scrubbed rejects hold none."""
    person_in_the_copy(engine, settings, tmp_path)
    before = leftovers(settings, engine)
    assert any("analytics.duckdb" in x for x in before), before
    assert any(x.startswith("event.parquet") for x in before), before
    report = erase_person(session, settings, PHONE, "test")
    session.commit()
    finish_erasure(session, settings, report)
    assert leftovers(settings, engine) == []
    copy = report.as_dict()["analytical_copy"]
    assert copy["state"] == "rebuilt" and copy["found_in"] == [], copy
    assert copy["rows_removed"]["event"] == 2 and copy["rows_removed"]["customer"] >= 2, copy
    assert copy["forms_searched"] >= len(PERSON_FORMS)
    assert {"parquet/event.parquet", "parquet/customer.parquet"} <= set(copy["files_removed"])
    assert copy["bytes_after"] > 0 and copy["seconds"] >= 0
    assert "_values" not in str(report.as_dict()) and report._values == []
    # the other person is still in the copy, and the copy still works
    from siyu.analytics.service import copy_status, refresh_copy

    status = {t.table: t.rows for t in copy_status(settings)}
    assert status["customer"] == 1 and status["order"] == 1
    assert refresh_copy(settings).erasure is None  # nothing left pending
    assert leftovers(settings, engine) == []


def test_a_rebuild_left_pending_is_done_by_the_next_refresh(
    engine, settings, session, tmp_path: Path
) -> None:
    """The process dies between the commit and the rebuild: the rows are out of the copy, but
    its free blocks still hold them until the next refresh rebuilds the file."""
    from siyu.analytics.service import refresh_copy

    person_in_the_copy(engine, settings, tmp_path)
    erase_person(session, settings, PHONE, "test")
    session.commit()
    scrub_storage(session)  # no finish_erasure: the process died here
    pending = settings.resolved_analytics_path.with_name("analytics.duckdb.erasing")
    assert pending.exists()
    assert any("analytics.duckdb" in x for x in leftovers(settings, engine))
    done = refresh_copy(settings).erasure
    assert done is not None and done["state"] == "rebuilt", done
    assert not pending.exists()
    assert [x for x in leftovers(settings, engine) if "analytics.duckdb" in x] == []


def test_a_busy_copy_is_rebuilt_once_it_is_free(engine, settings, session, tmp_path, monkeypatch):
    """A report holding the copy open: the erasure does not wait forever; it says the rebuild is
    pending, and the refresh after the report deletes the rows and rebuilds the file. The
    thread that holds the copy cannot rebuild it (it would wait for itself)."""
    import threading

    from siyu.analytics.engines import ibis_tables
    from siyu.analytics.erasure import finish_pending, purge
    from siyu.analytics.service import refresh_copy

    person_in_the_copy(engine, settings, tmp_path)
    monkeypatch.setattr(settings, "analytics_erase_wait_seconds", 1)
    copy = settings.resolved_analytics_path
    holding, release = threading.Event(), threading.Event()

    def report_reading() -> None:
        with ibis_tables(copy, "duckdb", ["order"]) as t:
            t["order"].count().execute()
            holding.set()
            release.wait(120)

    reader = threading.Thread(target=report_reading)
    reader.start()
    try:
        assert holding.wait(30)
        report = erase_person(session, settings, PHONE, "test")
        session.commit()
        finish_erasure(session, settings, report)
        got = report.analytical_copy
        assert got["state"] == "pending" and "in use" in got["note"], got
    finally:
        release.set()
        reader.join()
    with ibis_tables(copy, "duckdb", ["order"]):
        assert finish_pending(settings) is None  # held by this thread: left for later
        assert purge(settings, [], [], wait=5).state == "pending"
    done = refresh_copy(settings).erasure
    assert done is not None and done["state"] == "rebuilt", done
    assert done["rows_removed"]["event"] == 2 and done["rows_removed"]["customer"] == 2
    assert [x for x in leftovers(settings, engine) if "analytics.duckdb" in x] == []


def test_readers_see_the_old_file_or_the_new_one_never_a_half(
    engine, settings, session, tmp_path: Path
) -> None:
    import threading

    from siyu.analytics.engines import EngineUnavailable
    from siyu.analytics.service import copy_status

    person_in_the_copy(engine, settings, tmp_path)
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append({t.table: t.rows for t in copy_status(settings)}["customer"])
            except EngineUnavailable:
                pass  # waited too long: said so, and no half file read
            except BaseException as exc:
                errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        report = erase_person(session, settings, PHONE, "test")
        session.commit()
        finish_erasure(session, settings, report)
    finally:
        stop.set()
        for r in readers:
            r.join()
    assert not errors, errors
    assert report.analytical_copy["state"] == "rebuilt"
    assert set(seen) <= {1, 2, 3} and seen[-1] == 1  # 1: only the other person is left


def test_a_customer_made_after_an_erasure_never_takes_the_erased_id(
    engine, settings, session, tmp_path: Path
) -> None:
    """What other tables keep under an erased person's id (the send ledger's rows) must never
    become a newcomer's: SQLite would hand the highest id out again after the row with it was
    deleted, unless the table says AUTOINCREMENT (and the bulk importers' ids respect it)."""
    from siyu.customers.resolution import Resolver

    def newcomer(phone: str) -> int:
        resolver = Resolver(session.connection(), "test", settings.secret_key_bytes())
        key = ("phone", "", phone)
        resolver.prefetch([key])
        found = resolver.resolve([key], {"source": "test"})
        resolver.flush()
        return resolver.customer_for(found.customer_id)

    first = newcomer("+8613800000001")
    last = newcomer("+86" + PHONE)
    session.commit()
    erase_person(session, settings, PHONE, "test")
    session.commit()
    by_importer = newcomer("+8613800000002")
    by_orm = Customer(name="门店新客", status="active")
    session.add(by_orm)
    session.commit()
    assert first < last < by_importer < by_orm.id
