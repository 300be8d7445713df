"""The member centre's fission page (``/m/fission``): my progress in the running campaigns —
how many of my friends' first orders count so far (after their refund window), and the stages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from siyu.centre.service import Visitor
from siyu.centre.web import page, signed_in, to_sign_in
from siyu.growth.fission.service import progress_of
from siyu.growth.public import my_member
from siyu.webkit import SessionDep

router = APIRouter(include_in_schema=False)


@router.get("/m/fission")
def my_progress(
    request: Request, session: SessionDep, who: Visitor | None = Depends(signed_in)
) -> Response:
    if who is None:
        return to_sign_in()
    member = my_member(session, who)
    if member is None:
        return RedirectResponse("/m/", status_code=303)
    return page(
        request,
        "m_fission.html",
        csrf=who.csrf_token,
        campaigns=progress_of(session, member.id, member.programme_id),
        error=None,
    )
