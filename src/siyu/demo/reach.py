"""The demo's message providers: `siyu run` (demo mode) serves the local SMS gateway (Aliyun and
Tencent request shapes), a mail relay and an official account next to Siyu and points the
reach settings at them, so a campaign sent in the demo really goes out — to simulators that
keep what they received, never to a phone — and the gateway's delivery receipts come back to
Siyu's SmsReport address as Aliyun pushes them. A provider the deployment configured itself is left
alone. ``replay_providers`` serves the same simulators (and a simulated WeCom) for the past
campaigns `siyu demo ensure` replays, whatever is configured: the demo's generated people
never reach a real provider."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("siyu.demo.reach")


@dataclass
class DemoProviders:
    sms: Any = None
    mail: Any = None
    oa: Any = None
    oa_followers: int = 0


def start(siyu_url: str | None = None) -> DemoProviders:
    """Serve the simulators this demo has no real provider for; returns what it started. With
    ``siyu_url``, the SMS gateway pushes its delivery receipts there as Aliyun would and the
    official account's followers push their events to it."""
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
    if (
        not settings.centre_sms_template_code
    ):  # the member centre's code, as the simulator approved it
        os.environ.update(
            SIYU_CENTRE_SMS_SIGN_NAME="悦颜",
            SIYU_CENTRE_SMS_TEMPLATE_CODE="SMS_100001",
            SIYU_CENTRE_SMS_TEXT="您的验证码是${code}，10分钟内有效",
        )
        if siyu_url:
            threading.Thread(
                target=_push_receipts, args=(gateway, siyu_url), daemon=True, name="sms-receipts"
            ).start()
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
            SIYU_OA_WEB_AUTH_BASE=out.oa.base,  # the member centre's WeChat sign-in
            SIYU_OA_TOKEN=sim.server_token,
            SIYU_OA_AES_KEY=sim.aes_key,
        )
        reset_settings()
        sim.web.domain = urlsplit(get_settings().public_url).hostname or sim.web.domain
        out.oa_followers = demo_oa.build(sim)
        if siyu_url:
            demo_oa.start_arrivals(sim, siyu_url)
    reset_settings()
    return out


RECEIPTS_EVERY_SECONDS = 10.0


def push_receipts(gateway: Any, siyu_url: str, start: int = 0) -> int:
    """Post the receipts of the messages the gateway accepted from index ``start`` on to
    Siyu's SmsReport address; returns the index to start from next time."""
    import httpx

    from siyu.reach.tracking.public import push_token

    end = len(gateway.messages)
    reports = gateway.reports(start, end)
    if reports:
        url = f"{siyu_url.rstrip('/')}/reach/sms/{push_token()}/report"
        httpx.post(url, json=reports, timeout=10).raise_for_status()
    return end


def _push_receipts(gateway: Any, siyu_url: str) -> None:
    seen = 0
    while True:
        time.sleep(RECEIPTS_EVERY_SECONDS)
        try:
            seen = push_receipts(gateway, siyu_url, seen)
        except Exception as exc:  # Siyu not up yet or restarting: the same ones next time
            log.warning("demo SMS receipts not pushed: %s", exc)


@dataclass
class ReplayProviders:
    gateway: Any
    mailbox: Any
    world: Any


# what the replay points at its simulators (and puts back afterwards)
REPLAY_SETTINGS = (
    "SIYU_SMS_PROVIDER",
    "SIYU_SMS_ENDPOINT",
    "SIYU_SMS_ACCESS_KEY_ID",
    "SIYU_SMS_ACCESS_KEY_SECRET",
    "SIYU_SMTP_HOST",
    "SIYU_SMTP_PORT",
    "SIYU_SMTP_SECURITY",
    "SIYU_SMTP_USERNAME",
    "SIYU_SMTP_PASSWORD",
    "SIYU_EMAIL_FROM",
    "SIYU_OA_APPID",
    "SIYU_WECOM_API_BASE",
    "SIYU_PUBLIC_URL",
)
# The brand's short-link host in the replayed messages: a tracked link must fit an SMS
# variable (35 characters), which the demo's own address (http://127.0.0.1:8000) does not.
REPLAY_PUBLIC_URL = "https://y.example"


@contextmanager
def replay_providers(staff: int = 6) -> Iterator[ReplayProviders]:
    """An SMS gateway, a mail relay and a simulated WeCom corp of ``staff`` guides, with this
    process's settings pointed at them until the block ends."""
    from siyu.config import reset_settings
    from siyu.simulators.sms.gateway import Gateway, create_app
    from siyu.simulators.smtp import SmtpServer
    from siyu.simulators.threaded import ThreadedServer
    from siyu.simulators.wecom.run import demo_world
    from siyu.simulators.wecom.server import create_app as wecom_app

    saved = {k: os.environ.get(k) for k in REPLAY_SETTINGS}
    gateway = Gateway()
    world = demo_world(staff)
    servers: list[Any] = []
    try:
        servers.append(sms := ThreadedServer(create_app(gateway)))
        servers.append(mail := SmtpServer())
        servers.append(wecom := ThreadedServer(wecom_app(world)))
        world.base = wecom.base
        os.environ.update(
            SIYU_SMS_PROVIDER="aliyun",
            SIYU_SMS_ENDPOINT=sms.base,
            SIYU_SMS_ACCESS_KEY_ID=gateway.access_key_id,
            SIYU_SMS_ACCESS_KEY_SECRET=gateway.access_key_secret,
            SIYU_SMTP_HOST=mail.host,
            SIYU_SMTP_PORT=str(mail.port),
            SIYU_SMTP_SECURITY="none",
            SIYU_SMTP_USERNAME="",
            SIYU_SMTP_PASSWORD="",
            SIYU_EMAIL_FROM="悦颜 <news@yueyan.example>",
            SIYU_OA_APPID="",
            SIYU_WECOM_API_BASE=wecom.base,
            SIYU_PUBLIC_URL=REPLAY_PUBLIC_URL,
        )
        reset_settings()
        yield ReplayProviders(gateway, mail.mailbox, world)
    finally:
        for server in reversed(servers):
            server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()
