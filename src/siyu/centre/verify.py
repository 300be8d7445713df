"""Domain-verification files: before WeChat accepts a web-authorisation domain, the official
account's admin page asks for a file ``MP_verify_<token>.txt`` to be served at the domain's
root. An admin uploads it with ``siyu centre verify-file``; it is answered here as plain text."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from siyu import clock
from siyu.centre.models import VerifyFile
from siyu.refusals import Refusal

NAME = re.compile(r"MP_verify_[A-Za-z0-9]{1,64}\.txt")
CONTENT = re.compile(r"[A-Za-z0-9]{1,128}")


class BadVerifyFile(Refusal):
    """Not a file WeChat would have given."""


def keep(session: Session, name: str, content: str) -> VerifyFile:
    """Store (or replace) a verification file, checked to look like WeChat's."""
    if not NAME.fullmatch(name):
        raise BadVerifyFile("the file must be named MP_verify_<letters and digits>.txt")
    text = content.strip()
    if not CONTENT.fullmatch(text):
        raise BadVerifyFile("the file must hold only the letters and digits WeChat gave")
    row = session.get(VerifyFile, name) or VerifyFile(name=name)
    row.content, row.created_at = text, clock.now()
    session.add(row)
    session.flush()
    return row


def listed(session: Session) -> list[VerifyFile]:
    return list(session.scalars(sa.select(VerifyFile).order_by(VerifyFile.name)))
