"""Funnels with configurable steps on the November fixture of test_metrics, counted by hand:
the cohort is c1 (first seen 11-02), c2 (11-10) and c5 (11-28 23:30 local)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.integration.test_metrics import fixture  # noqa: F401 - the November fixture

NOV = (date(2026, 11, 1), date(2026, 11, 30))


def test_the_aarrr_funnel_by_hand(fixture: None, settings: Any) -> None:  # noqa: F811
    from siyu.metrics.funnels.service import AARRR, clean_steps, counts

    got = counts(settings, clean_steps(AARRR), *NOV)
    assert [s["customers"] for s in got["steps"]] == [
        3,  # c1, c2, c5 arrived
        3,  # all active within 7 days (c5's event 10 minutes after midnight is day 1)
        1,  # only c2 came back on days 8–30 (its event on 11-20)
        1,  # and bought within 30 days
        0,  # nobody reported 邀请好友
    ]
    assert [s["of_previous"] for s in got["steps"]] == [None, 1.0, 0.3333, 1.0, 0.0]
    assert got["steps"][2]["of_first"] == 0.3333
    assert got["steps"][0]["rule"]["field"] == "first_seen" and got["cached"] is False
    assert counts(settings, clean_steps(AARRR), *NOV)["cached"] is True


def test_own_steps_named_events_and_repeat_orders(fixture: None, settings: Any) -> None:  # noqa: F811
    from siyu.metrics.funnels.service import clean_steps, counts

    steps = clean_steps(
        [
            {"label": "新客", "kind": "first_seen"},
            {
                "label": "次日浏览",
                "kind": "event",
                "event": "page_view",
                "from_day": 0,
                "to_day": 1,
            },
            {"label": "两天下单", "kind": "order", "from_day": 0, "to_day": 30, "times": 2},
        ]
    )
    got = counts(settings, steps, *NOV)
    # c1 and c5 viewed on day 1 (c2 only on day 10); of those, c1 bought on two days
    assert [s["customers"] for s in got["steps"]] == [3, 2, 1]
    brand = counts(settings, steps, *NOV, brand_id=999)  # no orders of that brand
    assert [s["customers"] for s in brand["steps"]] == [3, 2, 0]


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        ([], "no_steps"),
        ([{"label": "a", "kind": "first_seen"}], "no_steps"),
        ([{"label": "a", "kind": "order"}, {"label": "b", "kind": "order"}], "first_step"),
        (
            [{"label": "a", "kind": "first_seen"}, {"label": "b", "kind": "first_seen"}],
            "first_step",
        ),
        ([{"label": "a", "kind": "first_seen"}, {"label": "", "kind": "order"}], "no_label"),
        ([{"label": "a", "kind": "first_seen"}, {"label": "b", "kind": "visit"}], "bad_kind"),
        ([{"label": "a", "kind": "first_seen"}, {"label": "b", "kind": "event"}], "no_event"),
        (
            [
                {"label": "a", "kind": "first_seen"},
                {"label": "b", "kind": "order", "from_day": 9, "to_day": 3},
            ],
            "bad_days",
        ),
        (
            [
                {"label": "a", "kind": "first_seen"},
                {"label": "b", "kind": "order", "to_day": "三十"},
            ],
            "bad_days",
        ),
        (
            [{"label": "a", "kind": "first_seen"}] + [{"label": "b", "kind": "order"}] * 8,
            "too_many",
        ),
    ],
)
def test_bad_steps_are_named(steps: list[dict[str, Any]], code: str) -> None:
    from siyu.metrics.funnels.service import FunnelError, clean_steps

    with pytest.raises(FunnelError) as err:
        clean_steps(steps)
    assert err.value.code == code


def test_saved_funnels_names_and_audit(session: Any) -> None:
    from siyu.accounts.models import AuditLog
    from siyu.metrics.funnels.service import AARRR, FunnelError, chosen, delete_funnel, save_funnel

    assert chosen(session, None)[1] == "AARRR"  # nothing saved: the built-in one
    f = save_funnel(session, "小程序拉新", AARRR[:3], actor="yunying")
    with pytest.raises(FunnelError, match="exists"):
        save_funnel(session, "小程序拉新", AARRR[:2], actor="yunying")
    save_funnel(session, "小程序拉新", AARRR[:2], actor="yunying", funnel_id=f.id)  # renamed same
    session.commit()
    assert chosen(session, None)[1:] == ("小程序拉新", f.steps) and len(f.steps) == 2
    with pytest.raises(FunnelError, match="No funnel"):
        chosen(session, f.id + 100)
    delete_funnel(session, f.id, actor="yunying")
    session.commit()
    audit = session.query(AuditLog).filter(AuditLog.target_type == "funnel")
    actions = [a.action for a in audit.order_by(AuditLog.id)]  # no ORDER BY: any order on Postgres
    assert actions == ["metrics.funnel", "metrics.funnel", "metrics.funnel_delete"]
