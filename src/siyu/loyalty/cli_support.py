"""What the `siyu loyalty` command modules share: the programme named on the command line,
and the audit entry of a bulk command."""

from __future__ import annotations

from typing import Any

from siyu.clikit import fail


def audit(actor: str, action: str, code: str, details: dict[str, Any]) -> None:
    from siyu.accounts.service import record_audit
    from siyu.db import session_scope

    with session_scope() as session:
        record_audit(session, actor, action, "loyalty_programme", code, details)


def programme_of(session: Any, code: str) -> Any:
    import sqlalchemy as sa

    from siyu.loyalty.models import Programme

    found = session.scalar(sa.select(Programme).where(Programme.code == code))
    if found is None:
        fail(f"no loyalty programme {code!r}; create it with `siyu loyalty create {code} NAME`")
    return found
