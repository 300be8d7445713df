"""The member centre's counting buckets: a day's SMS budget ends at local midnight."""

from __future__ import annotations

from datetime import UTC, datetime

from siyu.centre.throttle import bucket_end, daily


def test_a_day_ends_at_midnight_in_shanghai_not_in_greenwich() -> None:
    limit = daily(2000, 8 * 3600)[0]
    before_midnight = datetime(2026, 12, 7, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    after_midnight = datetime(2026, 12, 7, 16, 1, tzinfo=UTC)  # 00:01 the next day
    assert bucket_end(before_midnight, limit.seconds, limit.offset) == datetime(
        2026, 12, 7, 16, 0, tzinfo=UTC
    )
    assert bucket_end(after_midnight, limit.seconds, limit.offset) == datetime(
        2026, 12, 8, 16, 0, tzinfo=UTC
    )
    hourly = bucket_end(datetime(2026, 12, 7, 15, 30, tzinfo=UTC), 3600)
    assert hourly == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
