"""The worker's part of tag sync: pushing Siyu's tagging to WeCom, a job per corp and batch
(queued by ``service.on_tag_changed``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.jobs.service import handler
from siyu.wecom.connection.models import WecomCorp
from siyu.wecom.tagsync.service import push


@handler("wecom.tags.push")
def push_job(session: Session, payload: dict[str, Any]) -> None:
    from siyu.wecom.connection.service import cached_client, record_calls

    corp = session.get(WecomCorp, payload["corp"])
    if corp is None:
        return
    client = cached_client(session, corp)
    try:
        push(
            session,
            corp,
            client,
            int(payload["tag"]),
            list(payload["customers"]),
            bool(payload["add"]),
        )
    finally:
        record_calls(session, corp, client)
