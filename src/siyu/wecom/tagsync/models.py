"""Which Siyu tag each WeCom corp tag is paired with."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class WecomTagLink(Base):
    """A Siyu tag and the WeCom corp tag (企业客户标签) it is kept in step with. Linked by id, so
    renaming on either side keeps the link; created by a sync (WeCom's tags become Siyu tags in
    a group of the same name) or by pushing a Siyu tag to WeCom."""

    __tablename__ = "wecom_tag_link"
    __table_args__ = (
        sa.UniqueConstraint("corp_id", "tag_id"),
        sa.UniqueConstraint("corp_id", "wecom_tag_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    corp_id: Mapped[int] = mapped_column(sa.ForeignKey("wecom_corp.id"))
    tag_id: Mapped[int] = mapped_column(sa.ForeignKey("tag.id"), index=True)
    wecom_tag_id: Mapped[str] = mapped_column(sa.String(64))
    wecom_group_id: Mapped[str] = mapped_column(sa.String(64), default="")
    deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # gone at WeCom
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
