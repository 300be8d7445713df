"""The demo's NPS survey: 悦颜 asks members how likely they are to recommend it (0–10) and why,
shown in the member centre; three months of answers from members (a few skip the score), so the
dashboard's NPS card and its months, and the console's survey page, show a running survey.
Answered through the real service at the moments they were given (``clock.replaying_at``);
detractors are tagged by the survey's follow-up."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.growth.forms.service import save_form, set_status
from siyu.growth.forms.submit import Entry, submit
from siyu.loyalty.models import Member

ANSWERS = 160
WHY = ("质地很好", "物流慢", "客服耐心", "价格偏高", "会回购", "包装精致", "")


def ensure_survey(session: Session, today: date, seed: int = 11) -> list[str]:
    """The survey and its answers (nothing when it exists)."""
    from siyu.growth.forms.service import NoSuchForm, form_named

    try:
        form_named(session, "nps")
        return []
    except NoSuchForm:
        pass
    form = save_form(
        session,
        "demo",
        slug="nps",
        title="您向朋友推荐悦颜的可能性有多大？",
        intro="花 10 秒告诉我们，帮助我们做得更好。",
        fields=[
            {"kind": "nps", "label": "推荐意愿（0–10 分）"},
            {"kind": "text", "label": "主要原因"},
        ],
        kind="survey",
        once="person",
        actions=["tag:满意度/贬损者"],
        member_centre=True,
        brand="demo",
    )
    set_status(session, form, "live", "demo")
    session.commit()
    rng = random.Random(seed)
    members = session.scalars(
        sa.select(Member.customer_id)
        .where(Member.customer_id.is_not(None))
        .order_by(Member.id)
        .limit(ANSWERS * 2)
    ).all()
    end = datetime.combine(today, time(12), UTC)
    answered = 0
    for n, customer_id in enumerate(rng.sample(list(members), min(ANSWERS, len(members)))):
        at = end - timedelta(days=rng.randint(1, 88), minutes=rng.randint(0, 600))
        score = rng.choices(range(11), weights=(1, 1, 1, 1, 2, 3, 4, 8, 12, 16, 14))[0]
        answers = {"q1": "" if n % 17 == 0 else str(score), "q2": rng.choice(WHY)}
        with clock.replaying_at(at):
            submit(
                session,
                form,
                Entry(
                    answers=answers,
                    customer_id=int(customer_id or 0),
                    device=f"demo-survey-{n}",
                    address=f"10.77.{n // 200}.{n % 200}",
                    shown_at=at - timedelta(minutes=1),
                ),
            )
            session.commit()
        answered += 1
    return [f"survey nps: {answered} members answered (NPS on the dashboard)"]
