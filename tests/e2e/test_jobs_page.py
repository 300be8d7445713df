"""The job list (后台任务): an import's progress through the file, the step a running recompute
is on (read from another session while it runs), campaigns sending, the worker's queue; each
list only for who may start that kind of job, and the page polls only while something runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.e2e.conftest import login, make_user
from tests.integration.test_metrics import fixture  # noqa: F401 - the November fixture


def _orders_file(tmp_path: Path) -> Path:
    path = tmp_path / "orders.csv"
    lines = ["order_id,phone,paid_at,amount"]
    lines += [f"J{n},1391234{n:04d},2026-11-0{n % 9 + 1} 10:00:00,{n + 10}.00" for n in range(40)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_imports_and_the_queue_with_their_progress(client: TestClient, tmp_path: Path) -> None:
    from siyu.config import get_settings
    from siyu.db import get_engine, session_scope
    from siyu.ingest.models import ImportRun
    from siyu.ingest.orders import import_orders
    from siyu.jobs.models import Job

    done = import_orders(get_engine(), get_settings(), _orders_file(tmp_path), "csv", actor="op")
    assert done.inserted == 40 and done.bytes_read == done.file_bytes > 0
    with session_scope() as s:  # a second import, part-way through its file
        s.add(
            ImportRun(
                kind="orders",
                source="jd",
                file_name="jd-11月.csv",
                actor="yunying",
                status="running",
                stats={
                    "read": 5000,
                    "inserted": 4990,
                    "rejected_total": 10,
                    "bytes_read": 25,
                    "file_bytes": 100,
                },
            )
        )
        s.add(Job(kind="wecom.sync", status="failed", attempts=5, last_error="errcode 40001"))
        s.add(Job(kind="tags.apply", status="queued"))
    make_user("boss", "admin")
    login(client, "boss")
    page = client.get("/jobs")
    assert page.status_code == 200 and 'data-testid="nav-jobs"' in page.text
    text = page.text
    assert "orders.csv" in text and "100.0%" in text and "已读 40 · 写入 40 · 拒收 0" in text
    assert "jd-11月.csv" in text and "25.0%" in text and "进行中" in text
    assert 'hx-get="/jobs"' in text and 'hx-trigger="every 3s"' in text  # it polls
    assert "wecom.sync" in text and "errcode 40001" in text and "tags.apply" in text
    client.get("/lang/en?next=/jobs")
    english = client.get("/jobs").text
    assert "Background jobs" in english and "read 5,000 · written 4,990 · rejected 10" in english


def test_a_running_recompute_shows_its_step(client: TestClient, fixture: None) -> None:  # noqa: F811
    """While the recompute fits CLV, the page (another session) says step 3 of 5."""
    from siyu.config import get_settings
    from siyu.db import get_engine
    from siyu.traits.service import recompute

    make_user("fenxi", "analyst")
    login(client, "fenxi")
    seen: dict[str, Any] = {}

    def look(step: str) -> None:
        if step == "clv":
            seen["page"] = client.get("/jobs").text

    recompute(get_engine(), get_settings(), actor="fenxi", progress=look)
    assert "第 3/5 步：拟合 CLV" in seen["page"] and 'hx-get="/jobs"' in seen["page"]
    after = client.get("/jobs").text
    assert "第 3/5 步" not in after and "完成" in after and 'hx-get="/jobs"' not in after
    assert 'data-testid="jobs-imports"' not in after  # analysts do not run imports
    assert 'data-testid="jobs-queue"' not in after


def test_who_may_see_the_job_list(client: TestClient) -> None:
    make_user("daogou", "store_guide", store_code="s1")
    login(client, "daogou")
    page = client.get("/customers")
    assert 'data-testid="nav-jobs"' not in page.text
    assert client.get("/jobs").status_code == 403
    client.cookies.clear()
    make_user("yunying", "operator")
    login(client, "yunying")
    text = client.get("/jobs").text
    assert "还没有导入过文件" in text and "没有待发送、发送中或已暂停的活动" in text
    assert 'data-testid="jobs-queue"' not in text and "当前没有进行中的任务" in text
