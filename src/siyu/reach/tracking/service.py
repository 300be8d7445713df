"""What comes back after a message: delivery receipts and replies from the SMS provider,
clicks on tracked links.

- Tracked links: ``link('https://…')`` in a template becomes a short link of the recipient's
  own (``/l/<token>``, signed, naming the ledger row and the link); the destination gets
  ``utm_source=siyu``, ``utm_medium=<channel>``, ``utm_campaign=c<id>`` unless it has them.
- Receipts (Aliyun SmsReport) are matched to the ledger by OutId; replies (SmsUp) by phone.
  A reply of R / T / TD / N / 退订 (any case, spaces ignored) withdraws the number's marketing
  SMS consent at once, for every brand, with the reply as evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import Settings
from siyu.customers.models import Identity
from siyu.customers.service import withdraw_marketing
from siyu.db import is_sqlite, rowcount
from siyu.reach.models import SendOrigin, SendRow, SendState, TrackedLink
from siyu.reach.sending.templates import TemplateProblem
from siyu.reach.tracking.links import read_pair, sign_pair
from siyu.untrusted import BIG_ID_MAX, whole_number

OPT_OUT = {"R", "T", "TD", "N", "退订", "TD退订", "退订TD"}


def with_utm(url: str, channel: str, campaign_id: int) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for k, v in (
        ("utm_source", "siyu"),
        ("utm_medium", channel),
        ("utm_campaign", f"c{campaign_id}"),
    ):
        query.setdefault(k, v)
    return urlunsplit(parts._replace(query=urlencode(query)))


class Linker:
    """Short links for one dispatch batch (link rows looked up once per campaign and URL)."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session, self.settings = session, settings
        self._ids: dict[tuple[int, str], int] = {}

    def link_id(self, campaign_id: int, url: str) -> int:
        key = (campaign_id, url)
        if key not in self._ids:
            self._ids[key] = self._row(campaign_id, url)
        return self._ids[key]

    def _row(self, campaign_id: int, url: str) -> int:
        """The link's row, written the first time it is asked for."""
        insert = sqlite_insert if is_sqlite(self.session) else pg_insert
        self.session.execute(
            insert(TrackedLink)
            .values(campaign_id=campaign_id, url=url, clicks=0, created_at=clock.now())
            .on_conflict_do_nothing(index_elements=["campaign_id", "url"])
        )
        found = self.session.scalar(
            sa.select(TrackedLink.id).where(
                TrackedLink.campaign_id == campaign_id, TrackedLink.url == url
            )
        )
        return int(found or 0)

    def for_row(self, row_id: int, campaign_id: int, channel: str) -> Any:
        def link(url: str) -> str:
            url = str(url)
            if not url.startswith(("http://", "https://")):
                raise TemplateProblem("link", "link() takes an http:// or https:// address")
            lid = self.link_id(campaign_id, with_utm(url, channel, campaign_id))
            token = sign_pair(self.settings, "link", row_id, lid)
            return f"{self.settings.public_url.rstrip('/')}/l/{token}"

        return link


def click(session: Session, settings: Settings, token: str) -> str | None:
    """Record a click; returns where it goes (None: not a link of ours)."""
    pair = read_pair(settings, "link", token)
    if pair is None:
        return None
    row_id, link_id = pair
    link = session.get(TrackedLink, link_id)
    if link is None:
        return None
    session.execute(
        sa.update(TrackedLink)
        .where(TrackedLink.id == link_id)
        .values(clicks=TrackedLink.clicks + 1)
    )
    session.execute(
        sa.update(SendRow)
        .where(SendRow.id == row_id, SendRow.clicked_at.is_(None))
        .values(clicked_at=clock.now())
    )
    return link.url


def _aliyun_time(text: Any) -> datetime:
    try:
        return datetime.strptime(str(text), "%Y-%m-%d %H:%M:%S").replace(tzinfo=_shanghai())
    except ValueError:
        return clock.now()


def _shanghai() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def sms_receipts(session: Session, reports: Iterable[Mapping[str, Any]]) -> int:
    """Aliyun's SmsReport: ``out_id`` (our ledger row), ``success``, ``err_code``,
    ``report_time``. Returns how many ledger rows it concerned."""
    done = 0
    for r in reports:
        out_id = str(r.get("out_id") or "")
        row_id = whole_number(out_id[1:], most=BIG_ID_MAX) if out_id.startswith("L") else None
        if row_id is None:
            continue
        ok = r.get("success") in (True, "true", "True", 1)
        done += rowcount(
            session.execute(
                sa.update(SendRow)
                .where(SendRow.id == row_id, SendRow.channel == "sms")
                .values(
                    delivered=ok,
                    receipt_code=str(r.get("err_code") or ("DELIVERED" if ok else ""))[:40],
                    receipt_at=_aliyun_time(r.get("report_time")),
                )
            )
        )
    return done


def sms_replies(session: Session, replies: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Aliyun's SmsUp: ``phone_number``, ``content``, ``send_time``. Opt-outs withdraw consent;
    every reply marks the latest SMS the number was sent as replied."""
    seen = opted = 0
    for r in replies:
        number = "".join(ch for ch in str(r.get("phone_number") or "") if ch.isdigit())[-11:]
        if len(number) != 11:
            continue
        phone = f"+86{number}"
        seen += 1
        content = str(r.get("content") or "")
        owners = list(
            session.scalars(
                sa.select(Identity.customer_id).where(
                    Identity.kind == "phone", Identity.namespace == "", Identity.value == phone
                )
            )
        )
        if "".join(content.split()).upper() in OPT_OUT:
            withdraw_marketing(
                session,
                channel="sms",
                address=phone,
                source="sms_reply",
                evidence=f"SMS reply 「{content[:20]}」 at {r.get('send_time')}",
                customer_id=owners[0] if owners else None,
            )
            opted += 1
        if owners:
            latest = session.scalar(
                sa.select(SendRow.id)
                .where(
                    SendRow.customer_id.in_(owners),
                    SendRow.channel == "sms",
                    SendRow.state == SendState.sent,
                    SendRow.origin == SendOrigin.campaign,  # a reply answers a campaign
                )
                .order_by(SendRow.finished_at.desc())
                .limit(1)
            )
            if latest is not None:
                session.execute(
                    sa.update(SendRow)
                    .where(SendRow.id == latest, SendRow.replied_at.is_(None))
                    .values(replied_at=_aliyun_time(r.get("send_time")))
                )
    return {"replies": seen, "opted_out": opted}
