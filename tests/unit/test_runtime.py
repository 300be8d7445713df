"""``runtime.reset()`` forgets what the process keeps: each module registers its own cache
beside it, and one call clears them all (tests call it between configurations)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from siyu import clock, runtime

pytestmark = pytest.mark.no_database


def test_a_registered_cache_is_filled_reset_and_empty() -> None:
    kept: dict[str, int] = {"filled": 1}
    runtime.forgets("tests.kept", kept.clear)
    try:
        assert "tests.kept" in runtime.registered()
        runtime.reset()
        assert kept == {}
    finally:
        runtime.forgets("tests.kept", lambda: None)


def test_the_settings_are_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu.config import get_settings

    before = get_settings()
    monkeypatch.setenv("SIYU_SESSION_HOURS", "3")
    assert get_settings() is before  # cached: the environment is read once
    runtime.reset()
    assert get_settings().session_hours == 3


def test_the_capabilities_caches_are_forgotten() -> None:
    """A few of the caches Siyu keeps, filled and then forgotten by the one call."""
    from siyu.customers.masking import key_kind
    from siyu.ingest.values import short_place
    from siyu.oa import client as oa_client
    from siyu.reach import tasks
    from siyu.wecom.connection import client as wecom_client
    from siyu.wecom.connection import service as wecom_service

    key_kind("手机号")
    short_place("浙江省")
    wecom_client.TOKENS._tokens[("corp", "secret")] = ("token", 1e12)
    wecom_client.LIMITS.blocked_until[("corp", "api")] = 1e12
    wecom_service._KEYS["corp"] = (0.0, None)
    oa_client._shared_token("base", "appid", "secret")
    tasks._CHANNELS.update(key="k", channels={})
    assert key_kind.cache_info().currsize and short_place.cache_info().currsize
    clock.freeze(datetime(2026, 3, 10, tzinfo=UTC))

    runtime.reset()

    assert key_kind.cache_info().currsize == 0 and short_place.cache_info().currsize == 0
    assert wecom_client.TOKENS._tokens == {} and wecom_client.LIMITS.blocked_until == {}
    assert wecom_service._KEYS == {} and oa_client._TOKENS == {} and tasks._CHANNELS == {}
    assert not clock.is_frozen()
    names = set(runtime.registered())
    assert {"settings", "db.engines", "clock.frozen", "i18n.translations"} <= names
