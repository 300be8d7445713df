"""The forms API: forms and surveys (create, change, open or close), their submissions with
the consent evidence, NPS figures, and a customer's personal survey link. Brand-wide keys
only, as for referrals. Bodies are checked field by field (nothing free-form is taken), so a
huge or deeply nested body is refused 422 before the service sees it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from siyu.accounts.service import Principal
from siyu.customers import CUSTOMERS_UNMASK
from siyu.db import session_scope
from siyu.growth.api import manager
from siyu.growth.forms import nps, queries, service
from siyu.growth.forms.fields import CONSENT_MAX, LABEL_MAX, MOST_FIELDS, MOST_OPTIONS, OPTION_MAX
from siyu.untrusted import FIRST_DAY, ID_MAX, LAST_DAY

router = APIRouter(prefix="/api/v1/growth/forms", tags=["growth"])
Slug = Annotated[str, Field(min_length=2, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]+$")]
ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "no or bad API key"},
    403: {"description": "key lacks growth:manage, or is bound to a store"},
}
FOUND = {**ERRORS, 404: {"description": "no such form"}}
CHECKED = {**FOUND, 422: {"description": "a value out of range or a field that cannot be"}}


class FieldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["text", "choice", "phone", "address", "date", "nps", "consent"]
    label: Annotated[str, Field(min_length=1, max_length=LABEL_MAX)]
    required: bool = False
    options: Annotated[
        list[Annotated[str, Field(max_length=OPTION_MAX)]], Field(max_length=MOST_OPTIONS)
    ] = []
    multi: bool = False
    text: Annotated[str, Field(max_length=CONSENT_MAX)] = ""  # a consent's exact words
    version: Annotated[str, Field(max_length=20)] = ""


class FormIn(BaseModel):
    """A form as the builder sends it; ``actions`` are a survey's detractor follow-ups
    (``tag:<group/tag>``, ``guide_task``)."""

    model_config = ConfigDict(extra="forbid")
    slug: Slug
    title: Annotated[str, Field(min_length=1, max_length=service.TITLE_MAX)]
    intro: Annotated[str, Field(max_length=service.INTRO_MAX)] = ""
    kind: Literal["form", "survey"] = "form"
    once: Literal["none", "person", "day"] = "none"
    fields: Annotated[list[FieldIn], Field(max_length=MOST_FIELDS)] = []
    actions: Annotated[
        list[Annotated[str, Field(max_length=104)]], Field(max_length=service.MOST_ACTIONS)
    ] = []
    member_centre: bool = False
    brand: Annotated[str, Field(max_length=40)] | None = None  # a brand's code


def _saved(body: FormIn, actor: str, form_id: int | None = None) -> queries.FormView:
    with session_scope() as session:
        given: dict[str, Any] = body.model_dump()
        given["fields"] = [
            {k: v for k, v in f.items() if v not in ("", [])} for f in given["fields"]
        ]
        form = service.save_form(session, actor, form_id=form_id, **given)
        return queries.form_view(session, form)


@router.get("", response_model=queries.FormPage, responses=ERRORS)
def list_forms(
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    principal: Principal = Depends(manager),
) -> queries.FormPage:
    """Forms and surveys, newest first."""
    with session_scope() as session:
        total, rows = queries.forms(session, offset=offset, most=limit)
        return queries.FormPage(total=total, forms=rows)


@router.post(
    "",
    response_model=queries.FormView,
    status_code=201,
    responses={**CHECKED, 409: {"description": "another form has the address"}},
)
def create_form(body: FormIn, principal: Principal = Depends(manager)) -> queries.FormView:
    """Create a form or survey, as a draft (open it with ``/status``)."""
    return _saved(body, principal.actor)


@router.get("/{slug}", response_model=queries.FormView, responses=FOUND)
def get_form(slug: Slug, principal: Principal = Depends(manager)) -> queries.FormView:
    with session_scope() as session:
        return queries.form_view(session, service.form_named(session, slug))


@router.put(
    "/{slug}",
    response_model=queries.FormView,
    responses={**CHECKED, 409: {"description": "another form has the address"}},
)
def put_form(slug: Slug, body: FormIn, principal: Principal = Depends(manager)) -> queries.FormView:
    """Change a form (its address too, if ``slug`` in the body differs)."""
    with session_scope() as session:
        form_id = service.form_named(session, slug).id
    return _saved(body, principal.actor, form_id)


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["draft", "live", "closed"]


@router.post("/{slug}/status", response_model=queries.FormView, responses=CHECKED)
def put_status(
    slug: Slug, body: StatusIn, principal: Principal = Depends(manager)
) -> queries.FormView:
    """Open a form (live), close it, or take it back to draft."""
    with session_scope() as session:
        form = service.set_status(
            session, service.form_named(session, slug), body.status, principal.actor
        )
        return queries.form_view(session, form)


@router.get("/{slug}/submissions", response_model=queries.SubmissionPage, responses=FOUND)
def list_submissions(
    slug: Slug,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    principal: Principal = Depends(manager),
) -> queries.SubmissionPage:
    """A form's answers, newest first, with the consent text and version each ticked. Text,
    phone and address answers are masked unless the key may unmask customers."""
    with session_scope() as session:
        form = service.form_named(session, slug)
        total, rows = queries.submissions(
            session,
            form,
            offset=offset,
            most=limit,
            masked=not principal.can(CUSTOMERS_UNMASK),
        )
        return queries.SubmissionPage(total=total, submissions=rows)


Day = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY)]


@router.get("/{slug}/nps", response_model=nps.NpsOut, responses=CHECKED)
def nps_figures(
    slug: Slug,
    start: Annotated[Day | None, Query()] = None,
    end: Annotated[Day | None, Query()] = None,
    segment_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None,
    principal: Principal = Depends(manager),
) -> nps.NpsOut:
    """The survey's NPS over local days [start, end], by month and by home store, and for
    the customers in a segment now (``segment_id``)."""
    frm, to = nps.local_days(start, end)
    with session_scope() as session:
        form = service.form_named(session, slug)
        summary = nps.nps_summary(session, frm, to, form_id=form.id)
        stores = nps.nps_by_store(session, frm, to, form_id=form.id)
        inside = (
            nps.nps_for_segment(session, segment_id, frm, to, form_id=form.id)
            if segment_id is not None
            else None
        )
        return nps.NpsOut(
            **summary,
            by_store=[{"store_id": k, **v} for k, v in stores.items()],
            segment=inside,
        )


class LinkOut(BaseModel):
    link: str


@router.get("/{slug}/link", response_model=LinkOut, responses=FOUND)
def personal_link(
    slug: Slug,
    customer_id: Annotated[int, Query(ge=1, le=ID_MAX)],
    principal: Principal = Depends(manager),
) -> LinkOut:
    """A customer's personal link to the form (``?t=`` names them for 60 days), to send in a
    message: their answer needs no phone."""
    with session_scope() as session:
        return LinkOut(link=service.personal_link(service.form_named(session, slug), customer_id))
