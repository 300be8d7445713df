"""A refusal said in the reader's language: the console never shows an English service message
on a Chinese page where the catalogue has the words (a refusal's template is its message id;
metrics errors are said by their code)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from siyu.i18n import N_, gettext, speaking
from siyu.i18n import console_language as request_lang
from siyu.refusals import Refusal

# What the console says for each ``MetricsError.code`` (the funnel's and the date range's).
METRICS_ERRORS = {
    "no_steps": N_("A funnel needs at least two steps."),
    "too_many": N_("At most {n} steps."),
    "no_label": N_("Step {n}: give it a name."),
    "bad_kind": N_("Step {n}: choose an action."),
    "first_step": N_("The first step, and only it, is 'first seen in the period'."),
    "bad_days": N_("Step {n}: days as whole numbers 0–365, from no later than to."),
    "bad_times": N_("Step {n}: on 1–30 days."),
    "no_event": N_("Step {n}: which event (its name as reported)."),
    "bad_name": N_("Name: 1–60 characters."),
    "name_taken": N_("A funnel named '{name}' exists."),
    "missing": N_("No funnel {id}."),
    "backwards": N_("The period ends before it starts: swap the dates."),
    "no_store": N_("There is no store with id {id}; pick one from the list."),
    "too_long": N_("A period of at most {days} days."),
    "out_of_range": N_("Days from {first} to {last}."),
}


def in_words(request: Request, exc: BaseException) -> str:
    """``exc`` as the reader should read it (the English text where no translation exists)."""
    return said_in(request_lang(request), exc)


def said_in(lang: str, exc: BaseException) -> str:
    with speaking(lang):
        return _said(exc)


def _said(exc: BaseException) -> str:
    from siyu.metrics.service import MetricsError

    if isinstance(exc, MetricsError) and exc.code in METRICS_ERRORS:
        return gettext(METRICS_ERRORS[exc.code], **exc.params)
    if not isinstance(exc, Refusal):
        return str(exc)
    params: dict[str, Any] = {
        k: _said(v) if isinstance(v, BaseException) else v for k, v in exc.params.items()
    }
    return gettext(exc.template, **params)
