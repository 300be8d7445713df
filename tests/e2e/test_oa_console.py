"""`siyu oa sync|status` from the shell, the worker's scheduled sync, and the 公众号 section of
the WeCom status page (counts only; in a browser at phone width too)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from siyu.cli import app

runner = CliRunner()


def siyu(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_cli_sync_and_status(oa_account: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu.config import reset_settings

    for _ in range(3):
        oa_account.subscribe()
    oa_account.inject(45009, api="batchget")  # the day's quota: paused, resumable
    paused = siyu("oa", "sync", "--no-wait")
    assert paused.exit_code == 3 and "45009" in paused.output and "resume" in paused.output
    done = siyu("oa", "sync")
    assert done.exit_code == 0, done.output
    assert "listed 3" in done.stdout and "customers_created 3" in done.stdout
    status = siyu("oa", "status", "--json")
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert (data["followers"], data["unfollowed"]) == (3, 0)
    assert data["last_sync"]["status"] == "done" and data["callback_on"] is True
    text = siyu("oa", "status")
    assert "3 followers" in text.stdout and "plain mode" in text.stdout
    monkeypatch.setenv("SIYU_OA_SECRET", "wrong")
    reset_settings()
    failed = siyu("oa", "sync")
    assert failed.exit_code == 1 and "40125" in failed.output
    assert siyu("oa", "status").exit_code == 2  # the last sync failed: monitoring alerts
    monkeypatch.delenv("SIYU_OA_APPID")
    reset_settings()
    none = siyu("oa", "sync")
    assert none.exit_code == 1 and "SIYU_OA_APPID" in none.output


def test_the_worker_syncs_on_schedule_and_pumps_pushes(oa_account: Any, session: Any) -> None:
    from siyu.jobs.service import run_once, run_pumps
    from siyu.oa.models import OaFollower, OaSyncRun

    oa_account.subscribe()
    run_once("w-test")
    assert session.scalar(sa.select(OaSyncRun.status)) == "done"
    assert session.scalar(sa.select(sa.func.count()).select_from(OaFollower)) == 1
    assert run_pumps("w-test") == 0  # nothing queued


def test_status_page_shows_the_official_account(oa_account: Any, client: Any, session: Any) -> None:
    from siyu.config import get_settings
    from siyu.oa.service import run_sync
    from tests.e2e.conftest import login, make_user

    fans = [oa_account.subscribe() for _ in range(3)]
    run_sync(session, get_settings())
    oa_account.unsubscribe(fans[0].openid)
    run_sync(session, get_settings())
    make_user("daogou", "store_guide", store_code="s1")
    login(client, "daogou")
    page = client.get("/wecom")
    assert page.status_code == 200
    assert 'data-testid="oa-status"' in page.text
    assert "关注者" in page.text and "2（已取消关注 1）" in page.text
    assert oa_account.appid in page.text
    assert fans[1].openid not in page.text  # counts only, no one named


def test_status_page_without_an_account(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu.config import reset_settings
    from tests.e2e.conftest import login, make_user

    monkeypatch.delenv("SIYU_OA_APPID", raising=False)
    reset_settings()
    make_user("yunying", "operator")
    login(client, "yunying")
    assert "还没有配置公众号" in client.get("/wecom").text
