"""A refusal said in the reader's language: the console never shows an English service message
on a Chinese page where the catalogue has the words (a refusal's template is its message id).
The API's refusal handler (``webkit.answer_refusal``) and the console's pages (``in_words``,
``views.refused_page``) both say refusals through ``said_in``."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from siyu.i18n import console_language as request_lang
from siyu.i18n import gettext, speaking
from siyu.refusals import Refusal


def in_words(request: Request, exc: BaseException) -> str:
    """``exc`` as the reader should read it (the English text where no translation exists)."""
    return said_in(request_lang(request), exc)


def said_in(lang: str, exc: BaseException) -> str:
    with speaking(lang):
        return _said(exc)


def _said(exc: BaseException) -> str:
    if not isinstance(exc, Refusal):
        return str(exc)
    params: dict[str, Any] = {
        k: _said(v) if isinstance(v, BaseException) else v for k, v in exc.params.items()
    }
    return gettext(exc.template, **params)
