"""Refusals that speak the reader's language.

A service refuses with an English template whose ``{placeholders}`` are named, and the values
beside it. The template is the gettext message id: the CLI shows it filled in, the console and
the API look it up in the catalogue (``locale/zh_CN/LC_MESSAGES/siyu.po``, extracted with every
refusal class as a keyword: ``siyu.messages``) and say it in the reader's language with the same
values. A value that is itself a refusal is said in the reader's language too. A test checks
that every template raised in the code has its translation (tests/unit/test_catalog.py).

A refusal's class says how it is answered, never its words: ``status`` is the HTTP status the
API answers (``webkit.answer_refusal``, the one handler), ``exit_code`` the CLI's (``clikit``).
A domain refusal takes its status from one of the generic bases below, e.g.
``class NoSuchSegment(SegmentError, NotFound)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from siyu.i18n import N_


class Refusal(ValueError):
    """Something the product will not do as asked; ``template`` + ``params`` say why."""

    status: ClassVar[int] = 422
    """What the API answers: what was sent cannot be used (422) unless a base below says else."""
    exit_code: ClassVar[int] = 1
    """What a command exits with when it ends on this refusal."""
    keeps_writes: ClassVar[bool] = False
    """True: what the request wrote before it was refused (an audit entry) is committed."""

    def __init__(self, template: str, /, **params: Any) -> None:
        self.template, self.params = template, params
        super().__init__(template.format(**params) if params else template)

    def detail(self, say: Callable[[BaseException], str]) -> Any:
        """What an API answers as ``detail``, with ``say`` putting a refusal into words."""
        return say(self)


class NotFound(Refusal):
    """What was asked for does not exist (or may not be seen, answered alike)."""

    status = 404


class Conflict(Refusal):
    """The thing exists but its state does not allow the move (a name taken, a finished run)."""

    status = 409


class Gone(Refusal):
    """The thing existed and can no longer be used (an expired coupon)."""

    status = 410


class Forbidden(Refusal):
    """The acting principal lacks the permission the rule needs."""

    status = 403
    exit_code = 4  # as the CLI's own permission check (``clikit.require``)


class UpstreamFailed(Refusal):
    """A peer the product relies on (WeCom, an official account) refused or failed."""

    status = 502


class Unavailable(Refusal):
    """The product cannot answer now (the analytical copy is not built or is busy)."""

    status = 503


class NotPermitted(Forbidden):
    """The acting principal lacks ``permission``: the rule is written once, in the service."""

    def __init__(self, permission: str) -> None:
        super().__init__(N_("permission {permission} required"), permission=permission)


def require_permission(principal: Any, permission: Any) -> None:
    """Refuse (``NotPermitted``) unless ``principal`` holds ``permission``."""
    if not principal.can(permission):
        raise NotPermitted(str(permission))
