"""PIPL export and erasure: nothing of the person is left in any table or in the file."""

from __future__ import annotations

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
from siyu.privacy.service import PrivacyError, erase_person, export_person, scrub_storage
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
