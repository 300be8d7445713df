"""Forms and surveys to test with: a form of every field kind, a survey with an NPS question,
customers made as the identity rules make them, and answers posted as the public page posts
them (an SMS code read off the simulated phone for the phone field)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from siyu import clock
from tests.centre_world import code_for

T0 = datetime(2026, 3, 10, 2, 0, 30, tzinfo=UTC)  # 10:00 in Shanghai, inside an hour
CONSENT = "我同意悦颜通过短信向我发送新品和活动信息，可随时回复TD退订。"
_devices = itertools.count(1)
_phones = itertools.count(1)

EVERY_KIND = [
    {"kind": "text", "label": "您的称呼", "required": True},
    {"kind": "choice", "label": "肤质", "options": ["干性", "油性", "混合"], "required": True},
    {"kind": "choice", "label": "关注", "options": ["保湿", "美白", "抗老"], "multi": True},
    {"kind": "phone", "label": "手机号", "required": True},
    {"kind": "address", "label": "收货地址"},
    {"kind": "date", "label": "生日"},
    {"kind": "nps", "label": "您向朋友推荐悦颜的可能性有多大？"},
    {"kind": "consent", "label": "营销短信", "text": CONSENT, "version": "2026.1"},
]
SURVEY = [
    {"kind": "nps", "label": "推荐意愿"},
    {"kind": "text", "label": "原因"},
]


def device() -> str:
    return f"dev-{next(_devices)}"


def phone() -> str:
    return f"137{next(_phones):08d}"


def form(session: Any, slug: str = "spring", fields: Any = None, **kw: Any) -> Any:
    from siyu.growth.forms.service import save_form, set_status

    made = save_form(
        session,
        "test",
        slug=slug,
        title=kw.pop("title", "春季新品试用"),
        fields=fields or EVERY_KIND,
        **kw,
    )
    set_status(session, made, "live", "test")
    session.commit()
    return made


def customer(session: Any, number: str | None = None, store_id: int | None = None) -> int:
    from tests import growth_world

    cid = growth_world.customer(session, number or phone(), "张敏")
    if store_id is not None:
        from siyu.customers.models import Customer

        session.get(Customer, cid).store_id = store_id
        session.commit()
    return cid


def code(session: Any, centre: dict[str, Any], number: str, dev: str) -> str:
    from siyu.centre.service import request_code
    from siyu.config import get_settings

    request_code(session, get_settings(), number, "10.1.0.1", dev)
    session.commit()
    return code_for(centre["gateway"], number)


def good(number: str, **over: Any) -> dict[str, Any]:
    """Answers to EVERY_KIND that pass."""
    return {
        "q1": "张敏",
        "q2": "干性",
        "q3": ["保湿", "抗老"],
        "q4": number,
        "q5": "上海市徐汇区漕溪北路1号",
        "q6": "1990-05-01",
        "q7": "9",
        "q8": "1",
        **over,
    }


def entry(answers: dict[str, Any], **kw: Any) -> Any:
    from siyu.growth.forms.submit import Entry

    kw.setdefault("device", device())
    kw.setdefault("address", "10.1.0.1")
    kw.setdefault("shown_at", clock.now())
    return Entry(answers=answers, **kw)
