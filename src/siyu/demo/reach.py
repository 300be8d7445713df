"""The demo's message providers: `siyu run` (demo mode) serves the local SMS gateway (Aliyun and
Tencent request shapes), a mail relay and an official account next to Siyu and points the
reach settings at them, so a campaign sent in the demo really goes out — to simulators that
keep what they received, never to a phone. A provider the deployment configured itself is left
alone."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass
class DemoProviders:
    sms: Any = None
    mail: Any = None
    oa: Any = None
    oa_followers: int = 0


def start(siyu_url: str | None = None) -> DemoProviders:
    """Serve the simulators this demo has no real provider for; returns what it started.
    With ``siyu_url``, the official account's followers push their events to it."""
    from siyu.config import get_settings, reset_settings
    from siyu.simulators.oa import OfficialAccountSim
    from siyu.simulators.oa import create_app as oa_app
    from siyu.simulators.sms.gateway import Gateway, create_app
    from siyu.simulators.smtp import SmtpServer
    from siyu.simulators.threaded import ThreadedServer

    settings = get_settings()
    out = DemoProviders()
    if not settings.sms_access_key_id:
        gateway = Gateway()
        out.sms = ThreadedServer(create_app(gateway))
        os.environ.update(
            SIYU_SMS_ENDPOINT=out.sms.base,
            SIYU_SMS_ACCESS_KEY_ID=gateway.access_key_id,
            SIYU_SMS_ACCESS_KEY_SECRET=gateway.access_key_secret,
        )
    if not settings.smtp_host:
        out.mail = SmtpServer()
        os.environ.update(
            SIYU_SMTP_HOST=out.mail.host,
            SIYU_SMTP_PORT=str(out.mail.port),
            SIYU_SMTP_SECURITY="none",
            SIYU_EMAIL_FROM=settings.email_from or "悦颜 <news@yueyan.example>",
        )
    if not settings.oa_appid:
        from siyu.demo import oa as demo_oa

        sim = OfficialAccountSim(safe_mode=True)
        out.oa = ThreadedServer(oa_app(sim))
        os.environ.update(
            SIYU_OA_APPID=sim.appid,
            SIYU_OA_SECRET=sim.secret,
            SIYU_OA_API_BASE=out.oa.base,
            SIYU_OA_TOKEN=sim.server_token,
            SIYU_OA_AES_KEY=sim.aes_key,
        )
        reset_settings()
        out.oa_followers = demo_oa.build(sim)
        if siyu_url:
            demo_oa.start_arrivals(sim, siyu_url)
    reset_settings()
    return out
