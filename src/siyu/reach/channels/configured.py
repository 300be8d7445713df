"""Each channel as this deployment's settings configure it, or None where they do not (its rows
then wait in the ledger until it is configured). The reach manifest names these factories in
its ``channels``; a capability bringing a channel of its own names its factory in its manifest
the same way, and nothing else keeps a table of channels."""

from __future__ import annotations

from siyu.config import Settings
from siyu.reach.channels.base import Channel
from siyu.reach.channels.email import SmtpEmail
from siyu.reach.channels.oa import OfficialAccount
from siyu.reach.channels.sms import AliyunSms
from siyu.reach.channels.sms_tencent import TencentSms
from siyu.reach.channels.webhook import Webhook, signing_key


def sms(settings: Settings) -> AliyunSms | TencentSms | None:
    """The SMS provider the settings name, or None when its keys are not set."""
    if not (settings.sms_access_key_id and settings.sms_access_key_secret):
        return None
    if settings.sms_provider == "tencent":
        return TencentSms(
            settings.sms_access_key_id,
            settings.sms_access_key_secret,
            settings.sms_sdk_app_id,
            settings.sms_endpoint or "https://sms.tencentcloudapi.com",
            settings.sms_region,
        )
    return AliyunSms(
        settings.sms_access_key_id,
        settings.sms_access_key_secret,
        settings.sms_endpoint or "https://dysmsapi.aliyuncs.com",
    )


def email(settings: Settings) -> Channel | None:
    if not (settings.smtp_host and settings.email_from):
        return None
    return SmtpEmail(
        settings.smtp_host,
        settings.smtp_port,
        settings.email_from,
        settings.smtp_username,
        settings.smtp_password,
        settings.smtp_security,
    )


def official_account(settings: Settings) -> Channel | None:
    if not (settings.oa_appid and settings.oa_secret):
        return None
    return OfficialAccount(settings.oa_appid, settings.oa_secret, settings.oa_api_base)


def webhook(settings: Settings) -> Channel:
    return Webhook(signing_key(settings), settings.webhook_allow)
