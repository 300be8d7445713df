"""Arbitrary cell values never crash an import: every row is stored or rejected with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siyu.ingest.orders import import_orders
from siyu.ingest.reader import ImportFileError
from siyu.orders.models import Order
from tests import platform_files as pf
from tests.conftest import write_csv

cells = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "null",
            "-1",
            "0",
            "138****0000",
            "1.38E+10",
            "'13812345678",
            "¥1,299.00",
            "交易成功",
            "2026-13-45 25:61:00",
            "NaN",
            "1e400",
            "-30",
            "9" * 30,
        ]
    ),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(cells, cells, cells, cells, cells), min_size=1, max_size=8))
def test_random_cells_are_stored_or_rejected(tmp_path_factory, rows) -> None:  # type: ignore[no-untyped-def]
    from siyu.config import get_settings
    from siyu.db import get_engine

    folder = tmp_path_factory.mktemp("fuzz")
    data = [
        [f"F{i}-{oid}"[:60], phone, paid, amount, status, ""]
        for i, (oid, phone, paid, amount, status) in enumerate(rows)
    ]
    path = write_csv(
        folder / "f.csv",
        ["order_id", "phone", "paid_at", "amount", "status", "customer_id"],
        [r for r in data if "\x00" not in "".join(r)] or [["x", "", "", "", "", ""]],
    )
    engine = get_engine()
    with engine.begin() as conn:
        before = conn.scalar(sa.select(sa.func.count()).select_from(Order))
    s = import_orders(engine, get_settings(), path, "csv", actor="fuzz")
    with engine.begin() as conn:
        after = conn.scalar(sa.select(sa.func.count()).select_from(Order))
    assert s.inserted + s.updated + s.unchanged + s.rejected_total >= s.read or s.error
    assert after - before == s.inserted


def test_files_over_the_size_limit_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.config import get_settings, reset_settings
    from siyu.db import get_engine

    monkeypatch.setenv("SIYU_IMPORT_MAX_BYTES", "1000")
    reset_settings()
    path = pf.taobao(
        tmp_path / "big.csv", [pf.taobao_row(str(i), f"n{i}", "", "1.00") for i in range(20)]
    )
    with pytest.raises(ImportFileError, match="larger than the limit"):
        import_orders(get_engine(), get_settings(), path, "taobao", actor="t")
