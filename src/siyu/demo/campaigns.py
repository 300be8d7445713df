"""The campaigns of the demo's recent past (``demo.history`` replays them) and how their
audiences answered: who taps the link, who buys within the week. The rates are the demo's
assumptions; what the campaigns earned is measured from what then happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SHOP_URL = "https://shop.yueyan.example"


def _sms(offer: str, path: str) -> dict[str, Any]:
    """A marketing SMS on the brand's approved template with a tracked link."""
    return {
        "sign_name": "悦颜",
        "template_code": "SMS_000003",
        "text": "${name}您好，${offer}，戳 ${link} 拒收请回复R",
        "params": {
            "name": "{{ name }}",
            "offer": offer,
            "link": f"{{{{ link('{SHOP_URL}/{path}') }}}}",
        },
    }


@dataclass(frozen=True)
class PastCampaign:
    """A campaign of the demo's past and how its audience answered it."""

    days_ago: int
    name: str
    segment: str | None  # None: a customer-group campaign
    channel: str
    template: dict[str, Any]
    sku: str  # what it offers (and what responders buy)
    holdout_pct: int = 0
    cost_fen: int = 0
    variants: tuple[dict[str, Any], ...] = ()  # A/B: each with its key, weight and templates
    tap: float = 0.0  # share of delivered messages whose link is tapped
    tap_by_variant: dict[str, float] = field(default_factory=dict)  # (overrides ``tap``)
    buy_tapped: float = 0.0  # share of those who then buy within the week
    buy_other: float = 0.0  # share of the other recipients who buy within the week


CAMPAIGNS = (
    PastCampaign(
        26,
        "会员日短信：修护精华第二件半价",
        "近60天购买的短信会员",
        "sms",
        _sms("会员日修护精华第二件半价", "serum"),
        "SK-1201",
        holdout_pct=20,
        cost_fen=5,
        tap=0.2,
        buy_tapped=0.4,
        buy_other=0.06,
    ),
    PastCampaign(
        19,
        "新品邮件：积雪草舒缓系列",
        "邮件订阅会员",
        "email",
        {
            "subject": "{{ name }}，积雪草舒缓精华上新",
            "text": "{{ name }}您好，积雪草舒缓精华上新，会员专享 8 折："
            + f"{{{{ link('{SHOP_URL}/cica') }}}}",
            "html": "<p>{{ name }}您好，<b>积雪草舒缓精华</b>上新，会员专享 8 折。</p>"
            f"<p><a href=\"{{{{ link('{SHOP_URL}/cica') }}}}\">去看看</a></p>",
        },
        "SK-1203",
        holdout_pct=10,
        cost_fen=1,
        tap=0.15,
        buy_tapped=0.35,
        buy_other=0.04,
    ),
    PastCampaign(
        12,
        "导购一对一：秋冬换季护肤",
        "企业微信好友",
        "wecom",
        {
            "text": "{{ store }}的导购提醒您：秋冬换季，神经酰胺保湿霜会员价 8 折，"
            f"点这里看看 {{{{ link('{SHOP_URL}/winter') }}}}",
            "fallbacks": {"store": "悦颜"},
        },
        "SK-1302",
        holdout_pct=20,
        buy_other=0.1,
    ),
    PastCampaign(
        8,
        "江浙沪 A/B：满减还是赠品",
        "江浙沪短信会员",
        "sms",
        {},
        "SK-1101",
        variants=(
            {
                "key": "A",
                "weight": 50,
                "templates": {
                    "sms": _sms("补水爽肤水满199减30", "toner"),
                },
            },
            {
                "key": "B",
                "weight": 50,
                "templates": {
                    "sms": _sms("补水爽肤水买一送旅行装", "toner-gift"),
                },
            },
        ),
        cost_fen=5,
        tap_by_variant={"A": 0.12, "B": 0.22},
        buy_tapped=0.35,
        buy_other=0.05,
    ),
    PastCampaign(
        5,
        "社群预告：周末直播福利",
        None,
        "wecom_group",
        {"text": "本周六晚 8 点直播间抽免单，群里的朋友记得来哦～"},
        "SK-1802",
    ),
)
