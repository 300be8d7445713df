"""PIPL requests over the API: export and erase by phone (admin only, audit-logged)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from siyu.accounts.permissions import Perm
from siyu.accounts.service import Principal
from siyu.config import get_settings
from siyu.privacy.service import PrivacyError, erase_person, export_person, finish_erasure
from siyu.webkit import Refused, db_session, require

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])


class PersonIn(BaseModel):
    phone: str = Field(..., max_length=40, description="The person's phone number.")


@router.post("/export", responses={404: {"description": "nobody holds this phone"}})
def post_export(
    body: PersonIn,
    principal: Principal = Depends(require(Perm.privacy_manage)),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Everything held about the person, unmasked (a POST, so the phone stays out of URLs)."""
    try:
        return export_person(session, body.phone, principal.actor)
    except PrivacyError as exc:
        raise Refused(404, exc) from None


@router.post("/erase", responses={404: {"description": "nobody holds this phone"}})
def post_erase(
    body: PersonIn,
    principal: Principal = Depends(require(Perm.privacy_manage)),
    session: Session = Depends(db_session, scope="function"),
) -> dict[str, Any]:
    """Erase the person everywhere; keeps only an HMAC suppression entry. The answer says what
    was done where, the analytical copy included (its file is rebuilt without the person)."""
    settings = get_settings()
    try:
        report = erase_person(session, settings, body.phone, principal.actor)
    except PrivacyError as exc:
        raise Refused(404, exc) from None
    session.commit()
    return finish_erasure(session, settings, report).as_dict()
