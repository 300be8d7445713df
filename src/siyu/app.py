"""The FastAPI application: API routers, console pages, static files, startup checks."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from siyu import __version__
from siyu.config import get_settings
from siyu.console.views import LoginRequired
from siyu.storable import StorableInput
from siyu.webkit import (
    BlankQueryMeansAbsent,
    BodyLimit,
    Refused,
    SecurityHeaders,
    answer_refused,
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
    from siyu.console.admin_views import router as admin_console_router
    from siyu.console.campaign_views import router as campaign_console_router
    from siyu.console.customer_views import router as customer_console_router
    from siyu.console.funnel_views import router as funnel_console_router
    from siyu.console.import_views import UPLOAD_PATH, upload_body_limit
    from siyu.console.import_views import router as import_console_router
    from siyu.console.jobs_views import router as jobs_console_router
    from siyu.console.merge_views import router as merge_console_router
    from siyu.console.metrics_views import router as metrics_console_router
    from siyu.console.privacy_views import router as privacy_console_router
    from siyu.console.views import router as console_router
    from siyu.console.wecom_views import router as wecom_console_router
    from siyu.customers.api import router as customers_router
    from siyu.events.api import EVENT_PATHS
    from siyu.events.api import router as events_router
    from siyu.metrics.api import router as metrics_router
    from siyu.oa.api import OaCallbackEndpoint
    from siyu.privacy.api import router as privacy_router
    from siyu.reach.api import router as reach_router
    from siyu.reach.public import router as reach_public_router
    from siyu.segments.api import router as segments_router
    from siyu.tags.api import router as tags_router
    from siyu.wecom.api import CallbackEndpoint
    from siyu.wecom.api import router as wecom_router
    from siyu.wecom.api_group_codes import router as wecom_group_codes_router
    from siyu.wecom.api_handover import router as wecom_handover_router
    from siyu.wecom.api_replies import router as wecom_replies_router

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
    app.add_middleware(BlankQueryMeansAbsent)
    # no NUL nor half surrogate pair anywhere; JSON in UTF-8; multipart for the upload only
    app.add_middleware(
        StorableInput, own_check=EVENT_PATHS, multipart_paths=frozenset({UPLOAD_PATH})
    )
    app.add_middleware(BodyLimit, wider={UPLOAD_PATH: upload_body_limit(get_settings())})
    app.add_middleware(OaCallbackEndpoint)  # the official account's server URL
    app.add_middleware(CallbackEndpoint)  # WeCom's callback URL, before the rest
    app.add_middleware(SecurityHeaders)  # outermost
    app.include_router(events_router)
    app.include_router(customers_router)
    app.include_router(privacy_router)
    app.include_router(tags_router)
    app.include_router(segments_router)
    app.include_router(reach_router)
    app.include_router(metrics_router)
    app.include_router(reach_public_router)
    app.include_router(wecom_router)
    app.include_router(wecom_replies_router)
    app.include_router(wecom_handover_router)
    app.include_router(wecom_group_codes_router)
    app.include_router(campaign_console_router)
    app.include_router(metrics_console_router)
    app.include_router(jobs_console_router)
    app.include_router(import_console_router)
    app.include_router(funnel_console_router)
    app.include_router(admin_console_router)
    app.include_router(customer_console_router)
    app.include_router(merge_console_router)
    app.include_router(privacy_console_router)
    app.include_router(console_router)
    app.include_router(wecom_console_router)
    static = Path(__file__).parent / "console" / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    app.add_exception_handler(Refused, answer_refused)  # type: ignore[arg-type]

    @app.exception_handler(LoginRequired)
    async def _to_login(request: Request, _exc: LoginRequired) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    app.add_route("/api/docs", api_docs, include_in_schema=False)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
