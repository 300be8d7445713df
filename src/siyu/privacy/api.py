"""PIPL requests over the API: export and erase a person, found by phone or customer id
(export: privacy:export; erasure: privacy:manage, administrators only by default;
audit-logged)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from siyu.accounts.service import Principal
from siyu.config import get_settings
from siyu.customers.models import Customer
from siyu.privacy import PRIVACY_EXPORT, PRIVACY_MANAGE
from siyu.privacy.service import (
    erase_customer,
    export_customer,
    find_by_phone,
    find_person,
    finish_erasure,
)
from siyu.privacy.shapes import ErasureOut, PersonExport
from siyu.webkit import Id, SessionDep, require

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])


class PersonIn(BaseModel):
    phone: str | None = Field(None, max_length=40, description="The person's phone number.")
    customer_id: Id | None = Field(None, description="Or the person's customer id.")

    @model_validator(mode="after")
    def _one_of(self) -> PersonIn:
        if (self.phone is None) == (self.customer_id is None):
            raise ValueError("give the phone or the customer_id, not both")
        return self


def _person(session: Session, body: PersonIn) -> Customer:
    if body.customer_id is not None:
        return find_person(session, body.customer_id)
    return find_by_phone(session, body.phone or "")


@router.post(
    "/export",
    response_model=PersonExport,
    responses={404: {"description": "nobody holds this phone"}},
)
def post_export(
    session: SessionDep,
    body: PersonIn,
    principal: Principal = Depends(require(PRIVACY_EXPORT)),
) -> PersonExport:
    """Everything held about the person, unmasked (a POST, so the phone stays out of URLs)."""
    return PersonExport.model_validate(
        export_customer(session, _person(session, body), principal.actor)
    )


@router.post(
    "/erase",
    response_model=ErasureOut,
    responses={404: {"description": "nobody holds this phone"}},
)
def post_erase(
    session: SessionDep,
    body: PersonIn,
    principal: Principal = Depends(require(PRIVACY_MANAGE)),
) -> ErasureOut:
    """Erase the person everywhere; keeps only an HMAC suppression entry. The answer says what
    was done where, the analytical copy included (its file is rebuilt without the person)."""
    settings = get_settings()
    report = erase_customer(session, settings, _person(session, body), principal.actor)
    session.commit()
    return ErasureOut.model_validate(finish_erasure(session, settings, report).as_dict())
