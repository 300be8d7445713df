"""Fission campaigns on SQLite and PostgreSQL: any stage rewarding shares, scans, adds or the
number invited is refused with WeChat's rule, and so is a poster promising anything for
sharing (spacing and full-width forms do not hide it); stages count invitees' first paid orders
only once their refund window has passed and while they stay paid, inside the campaign's
window, and each stage is given once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock
from tests import growth_world as w
from tests.growth_world import T0


def _create(session: Any, stages: list[Any], poster: str = "", **kw: Any) -> Any:
    from siyu.growth.fission.service import create_campaign

    made = create_campaign(
        session,
        "vip",
        kw.pop("name", "三月任务宝"),
        stages,
        starts_at=kw.pop("starts_at", T0 - timedelta(days=1)),
        ends_at=kw.pop("ends_at", T0 + timedelta(days=30)),
        poster_text=poster,
        actor="test",
        **kw,
    )
    session.commit()
    return made


@pytest.mark.parametrize("trigger", ["shares", "scans", "adds", "invites"])
def test_a_stage_rewarding_anything_but_paid_orders_is_refused_with_the_rule(
    session: Any, trigger: str
) -> None:
    from siyu.growth.fission.service import FissionRefused, StageSpec

    w.programme(session)
    with pytest.raises(FissionRefused, match="WeChat forbids inducing shares"):
        _create(session, [StageSpec(3, 100, "", trigger)])
    with pytest.raises(FissionRefused, match="paid_orders only"):
        _create(session, [StageSpec(3, 100, "", "likes")])


@pytest.mark.parametrize(
    "poster",
    [
        "转发朋友圈送10元红包",
        "分 享 到 群 里 即 得 积 分",  # spaced out
        "分享ｇｅｔ积分，快来！",  # full-width letters
        "邀请好友扫码即送红包",
        "帮我助力，一起领奖",
        "帮我助カ，一起领奖",  # katakana ka drawn as 力
        "カロ速领红包",  # 加 drawn as カ and ロ
        "點贊送積分",  # traditional
        "集賛 30 个送面膜",  # Japanese form
        "転発得积分",
        "砍—刀免费拿",  # a dash for 一
        "ｼｪｱ得积分",  # half-width katakana "share"
        "ѕhare 得积分",  # a Cyrillic s
        "好友砍价免费拿",
        "集赞 30 个送面膜",
    ],
)
def test_a_poster_promising_anything_for_sharing_is_refused(session: Any, poster: str) -> None:
    from siyu.growth.fission.service import FissionRefused, StageSpec

    w.programme(session)
    with pytest.raises(FissionRefused):
        _create(session, [StageSpec(1, 100)], poster)


@pytest.mark.parametrize(
    "poster", ["好友首单满 99 元，你得 200 积分", "邀请好友，好友下单后你得积分", "新品上市"]
)
def test_a_poster_about_friends_purchases_is_accepted(session: Any, poster: str) -> None:
    from siyu.growth.fission.service import StageSpec

    w.programme(session)
    assert _create(session, [StageSpec(1, 100)], poster).id


def test_stages_count_paid_orders_after_the_window_once(session: Any) -> None:
    from siyu.growth.fission.models import FissionReward
    from siyu.growth.fission.service import StageSpec, progress_of, qualified, reward_stages
    from siyu.loyalty.service import ledger_totals

    programme = w.programme(session, referrer_points=0, invitee_points=0)
    ref = w.referrer(session, programme)
    campaign = _create(session, [StageSpec(1, 100), StageSpec(2, 300), StageSpec(3, 500)])
    invitees = [
        w.arrive(
            session,
            programme,
            ref,
            device=f"f{n}",
            address=f"10.9.{n}.1",
            at=T0 + timedelta(minutes=n),
        )[1]
        for n in range(3)
    ]
    late = w.arrive(
        session, programme, ref, device="f9", address="10.9.9.1", at=T0 + timedelta(days=40)
    )[1]
    numbers = [w.phone_of(session, c) for c in [*invitees, late]]
    with clock.frozen(T0 + timedelta(days=1)):
        for number in numbers:
            w.push_order(number, order_id=f"F-{number}")
        w.deliver()
    with clock.frozen(T0 + timedelta(days=2)):  # one refunded inside its window
        w.push_order(
            numbers[2],
            order_id=f"F-{numbers[2]}",
            status="refunded",
            refund_fen=20000,
            ordered_at=(T0 + timedelta(days=1)).isoformat(),
            paid_at=(T0 + timedelta(days=1)).isoformat(),
        )
        w.deliver()
    with clock.frozen(T0 + timedelta(days=5)):  # inside the refund window: nothing counts yet
        assert qualified(session, campaign) == {}
        assert reward_stages(session) == 0
    with clock.frozen(T0 + timedelta(days=9)):
        assert qualified(session, campaign) == {ref.member.id: 2}  # the late arrival is outside
        assert reward_stages(session) == 2
        assert reward_stages(session) == 0  # once
        shown = progress_of(session, ref.member.id, programme.id)
    assert shown[0].counted == 2 and [s[2] for s in shown[0].stages] == [True, True, False]
    got = session.scalars(sa.select(FissionReward.counted)).all()
    assert sorted(got) == [2, 2]
    assert ledger_totals(session, ref.member.id).remaining == 400


def test_set_up_is_checked(session: Any) -> None:
    from siyu.growth.fission.service import FissionRefused, StageSpec

    w.programme(session)
    for stages in (
        [],
        [StageSpec(0, 1)],
        [StageSpec(1, 0)],
        [StageSpec(2, 1), StageSpec(2, 5)],
        [StageSpec(1, 1, "nope")],
    ):
        with pytest.raises(FissionRefused):
            _create(session, stages)
        session.rollback()
    with pytest.raises(FissionRefused):
        _create(session, [StageSpec(1, 1)], ends_at=T0 - timedelta(days=5))
    session.rollback()
    with pytest.raises(FissionRefused, match="no group live code 999"):
        _create(session, [StageSpec(1, 1)], group_code_id=999)


def test_a_welcome_gets_a_group_qr_only_for_a_participants_own_code(session: Any) -> None:
    """States that are not a referral code of this corp, or of a programme with no group
    campaign running, add nothing to the welcome (the shared live codes' states included)."""
    from siyu.growth.fission.groups import welcome_group

    programme = w.programme(session)
    code = w.referrer(session, programme).code
    for state in ("", "gc123", "r_", "r_NOTACODE", "r_" + "Z" * 500, f"r_{code.code}"):
        assert welcome_group(session, 1, state) == []  # no campaign with a group runs


def test_a_group_link_title_fits_wecom_128_bytes() -> None:
    """Emoji take four bytes: a long group name is cut by bytes, never inside a character."""
    from siyu.growth.fission.groups import TITLE_BYTES, attachment
    from siyu.wecom.queries import GroupCodeFacts

    link = attachment(GroupCodeFacts(1, 1, "🎉" * 40, "https://wework.example/qr.png", ("c",)))
    title = link["link"]["title"]
    assert len(title.encode()) <= TITLE_BYTES and title.startswith("加入「🎉")
    assert title.encode().decode() == title
