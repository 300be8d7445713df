"""The FastAPI application: API routers, console pages, static files, startup checks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from siyu import __version__
from siyu.api_document import declare_common_answers
from siyu.config import get_settings
from siyu.console.views import LoginRequired, PageForbidden
from siyu.refusals import Refusal
from siyu.storable import StorableInput
from siyu.webkit import (
    BlankQueryMeansAbsent,
    BodyLimit,
    ReadersLanguage,
    SecurityHeaders,
    answer_refusal,
)

log = logging.getLogger("siyu")


def startup_checks() -> None:
    """Production refuses to start without SIYU_SECRET_KEY or with the demo password in use."""
    from siyu.accounts.service import ensure_demo_admin, refuse_demo_password_outside_demo
    from siyu.db import session_scope

    settings = get_settings()
    settings.secret_key_bytes()  # raises MissingSecretKey in production
    with session_scope() as session:
        refuse_demo_password_outside_demo(session, settings)
        ensure_demo_admin(session, settings)


API_DOCS = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Siyu 私域 API</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/vendor/swagger-ui.css">
<script src="/static/vendor/swagger-ui-bundle.js" defer></script>
<script src="/static/api_docs.js" defer></script>
</head><body><div id="swagger-ui" data-openapi="/api/openapi.json"></div></body></html>
"""


async def api_docs(_request: Request) -> HTMLResponse:
    """The API's interactive docs: Swagger UI from Siyu's own /static (no CDN, which networks
    in mainland China often cannot reach), started by a static script, so the console's CSP
    holds here too."""
    return HTMLResponse(API_DOCS)


def create_app() -> FastAPI:
    from siyu.capabilities import provided
    from siyu.console.views import router as console_shell
    from siyu.events.api import EVENT_PATHS
    from siyu.ingest.views import UPLOAD_PATH, upload_body_limit

    app = FastAPI(
        title="Siyu 私域 API",
        version=__version__,
        description="Customer pool, events and operations API. Authenticate with "
        "`Authorization: Bearer <API key>` (create one with `siyu apikey create`).",
        docs_url=None,  # served below from vendored files, under the console's CSP
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    # Starlette runs the last one added first. The callbacks answer before the rest; the headers
    # (and the access log) wrap everything, so a 413 or a callback's answer carries them too.
    app.add_middleware(ReadersLanguage)  # what runs inside speaks the reader's language
    app.add_middleware(BlankQueryMeansAbsent)
    # no NUL nor half surrogate pair anywhere; JSON in UTF-8; multipart for the upload only
    app.add_middleware(
        StorableInput, own_check=EVENT_PATHS, multipart_paths=frozenset({UPLOAD_PATH})
    )
    app.add_middleware(BodyLimit, wider={UPLOAD_PATH: upload_body_limit(get_settings())})
    for _cap, endpoint in provided("middleware"):  # callback URLs answered before the rest
        app.add_middleware(endpoint)
    app.add_middleware(SecurityHeaders)  # outermost
    for _cap, router in provided("routers"):
        app.include_router(router)
    for _cap, router in provided("pages"):
        app.include_router(router)
    app.include_router(console_shell)  # sign-in, home and the shell's own pages
    static = Path(__file__).parent / "console" / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    app.add_exception_handler(Refusal, answer_refusal)

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, _exc: LoginRequired) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(PageForbidden)
    async def _forbidden(_request: Request, exc: PageForbidden) -> HTMLResponse:
        return exc.page

    def openapi() -> dict[str, Any]:
        return declare_common_answers(FastAPI.openapi(app))

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_route("/api/docs", api_docs, include_in_schema=False)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
