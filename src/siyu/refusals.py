"""Refusals that speak the reader's language.

A service refuses with an English template whose ``{placeholders}`` are named, and the values
beside it. The template is the gettext message id: the CLI shows it filled in, the console and
the API look it up in the catalogue (``locale/zh_CN/LC_MESSAGES/siyu.po``, extracted with every
refusal class as a keyword: ``babel.cfg``) and say it in the reader's language with the same
values. A value that is itself a refusal is said in the reader's language too. A test checks
that every template raised in the code has its translation (tests/unit/test_catalog.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Refusal(ValueError):
    """Something the product will not do as asked; ``template`` + ``params`` say why."""

    def __init__(self, template: str, /, **params: Any) -> None:
        self.template, self.params = template, params
        super().__init__(template.format(**params) if params else template)

    def detail(self, say: Callable[[BaseException], str]) -> Any:
        """What an API answers as ``detail``, with ``say`` putting a refusal into words."""
        return say(self)
