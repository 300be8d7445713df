"""Forms and surveys and what customers answered to them.

A form's fields are a JSON list checked by ``growth.forms.fields`` when the form is saved, so
a submission is checked against the same shapes the page showed. A submission keeps the exact
consent text and version the person ticked (the evidence PIPL asks for), the campaign tags of
the link (UTM) and a referral code it came with. ``once_key`` holds the one-per-person or
one-per-day limit under a unique key, so two tabs submitting at once store one answer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db import Base, UTCDateTime, utcnow


class FormKind(StrEnum):
    form = "form"  # a landing page or sign-up form
    survey = "survey"  # questions, usually with an NPS one


class FormStatus(StrEnum):
    draft = "draft"  # being built: the public page is 404
    live = "live"  # answered at /f/{slug}
    closed = "closed"  # the page says it is closed; nothing more is stored


class FormLimit(StrEnum):
    none = "none"
    person = "person"  # one submission per customer (and per device)
    day = "day"  # one a day (Asia/Shanghai) per customer and per device


class Form(Base):
    """A form or survey: its title and intro (plain text, escaped where shown), its fields,
    how often one person may answer, and, for a survey, what follows a detractor's answer
    (``actions``: ``tag:<group/tag>`` and ``guide_task``)."""

    __tablename__ = "growth_form"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(10), default=FormKind.form)
    status: Mapped[str] = mapped_column(sa.String(10), default=FormStatus.draft)
    title: Mapped[str] = mapped_column(sa.String(100))
    intro: Mapped[str] = mapped_column(sa.String(2000), default="")
    fields: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    once: Mapped[str] = mapped_column(sa.String(10), default=FormLimit.none)
    actions: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    brand_id: Mapped[int | None] = mapped_column(sa.ForeignKey("brand.id"))
    member_centre: Mapped[bool] = mapped_column(sa.Boolean, default=False)  # listed at /m/surveys
    created_by: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FormSubmission(Base):
    """One person's answers to a form. ``customer_id`` is None for an anonymous answer (no
    phone field, no personal link) and after an erasure, which also empties ``answers``;
    ``nps`` is the NPS question's answer (None: skipped, or the form has none) so the figures
    are one indexed query. ``actions`` records what the survey's follow-ups did, or why not."""

    __tablename__ = "growth_form_submission"
    __table_args__ = (
        sa.UniqueConstraint("form_id", "once_key"),
        sa.Index("ix_growth_form_submission_form", "form_id", "submitted_at"),
        sa.Index("ix_growth_form_submission_device", "form_id", "device"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(sa.ForeignKey("growth_form.id"))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    nps: Mapped[int | None] = mapped_column(sa.SmallInteger)
    consent_text: Mapped[str] = mapped_column(sa.String(500), default="")
    consent_version: Mapped[str] = mapped_column(sa.String(20), default="")
    utm: Mapped[dict[str, str]] = mapped_column(sa.JSON, default=dict)
    ref: Mapped[str] = mapped_column(sa.String(12), default="")
    device: Mapped[str] = mapped_column(sa.String(40), default="")
    address: Mapped[str] = mapped_column(sa.String(64), default="")
    once_key: Mapped[str | None] = mapped_column(sa.String(60))
    actions: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
