"""A refusal said in the reader's language: the console never shows an English service message
on a Chinese page where it has the words (``refusals_zh.ZH``; metrics errors by their code)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from siyu.console.i18n import LANGUAGES, translator
from siyu.console.refusals_zh import ZH
from siyu.refusals import Refusal


def request_lang(request: Request) -> str:
    """The reader's language: the one they chose (a cookie), Chinese until they choose."""
    lang = request.cookies.get("siyu_lang", "zh-CN")
    return lang if lang in LANGUAGES else "zh-CN"


def in_words(request: Request, exc: BaseException) -> str:
    """``exc`` as the reader should read it (the English text where no translation exists)."""
    return said_in(request_lang(request), exc)


def said_in(lang: str, exc: BaseException) -> str:
    from siyu.metrics.service import MetricsError

    if isinstance(exc, MetricsError) and exc.code:
        return str(translator(lang)(f"mx.err.{exc.code}", **exc.params))
    if lang == "en" or not isinstance(exc, Refusal) or exc.template not in ZH:
        return str(exc)
    params: dict[str, Any] = {
        k: said_in(lang, v) if isinstance(v, BaseException) else v for k, v in exc.params.items()
    }
    return ZH[exc.template].format(**params) if params else ZH[exc.template]
