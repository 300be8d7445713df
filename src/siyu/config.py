"""Settings: one registry, read from the environment (prefix ``SIYU_``).

Every setting has a default and a help text; ``docs/settings.md`` is generated from this class
and a test fails when the two disagree, so no setting goes undocumented.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from siyu import runtime

MIN_SECRET_KEY_BYTES = 32  # 256 bits: what HMAC-SHA256 and the key derivation expect
DEMO_ADMIN_USERNAME = "admin"
DEMO_ADMIN_PASSWORD = "siyu-demo-2026"  # noqa: S105 - known on purpose; refused outside demo mode


@dataclass(frozen=True)
class QuietHours:
    """Marketing waits from ``start`` o'clock to ``end`` o'clock, local time (DESIGN §5: by
    default 21:00–08:00 Asia/Shanghai). The window crosses midnight when ``end`` comes before
    ``start`` (21 → 8) and does not otherwise (1 → 6); ``start == end`` is no quiet hours."""

    start: int = 21
    end: int = 8

    def covers(self, local: time) -> bool:
        """Whether a local time of day falls in the quiet hours."""
        start, end = time(self.start), time(self.end)
        if start == end:
            return False
        if start < end:
            return start <= local < end
        return local >= start or local < end

    def until(self, now: datetime, tz: tzinfo) -> datetime | None:
        """None if ``now`` is outside the quiet hours of the zone ``tz``; else the moment they
        end there (aware, in ``tz``)."""
        local = now.astimezone(tz)
        if not self.covers(local.time()):
            return None
        day = local.date() if local.time() < time(self.end) else local.date() + timedelta(days=1)
        return datetime.combine(day, time(self.end), tz)


class Mode(StrEnum):
    production = "production"
    demo = "demo"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIYU_", extra="ignore")

    mode: Mode = Field(
        Mode.production,
        description="production or demo. Demo mode creates the demo admin and may generate a "
        "secret key under the data directory; production refuses both.",
    )
    data_dir: Path = Field(
        Path("var"), description="Directory for the embedded database, exports and rejects files."
    )
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the system of record. Empty means a SQLite file "
        "`siyu.db` in the data directory; production uses postgresql+psycopg://…",
    )
    secret_key: str = Field(
        "",
        description="Key for encrypting secrets at rest and for suppression HMACs. Required in "
        "production, at least 32 bytes (e.g. `secrets.token_urlsafe(48)`); keep it outside the "
        "database and never change it casually.",
    )
    timezone: str = Field("Asia/Shanghai", description="Time zone used for display and calendars.")
    session_hours: int = Field(12, description="Console login session lifetime in hours.")
    login_max_failures: int = Field(
        5,
        ge=1,
        description="Failed logins per username and per client address before a 15-minute "
        "lockout (an IPv6 client counts by its /64).",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: "
        "comma-separated addresses or networks (CIDR), `*` for any. The client address they "
        "forward keys the login lockout and the audit log; an https scheme marks the session "
        "cookie Secure. Set it to your proxy's address only (`siyu serve --forwarded-allow-ips` "
        "overrides it).",
    )
    import_batch_rows: int = Field(
        5000, description="Rows per committed batch when importing files."
    )
    import_max_bytes: int = Field(
        8 * 1024**3, description="Largest import file accepted, in bytes."
    )
    import_xlsx_max_unpacked_bytes: int = Field(
        1024**3,
        description="An .xlsx workbook's sheets and shared strings may unpack to at most this "
        "many bytes (counted while unpacking, so a zip bomb stops here); larger workbooks are "
        "refused with the advice to save them as CSV.",
    )
    import_xlsx_max_memory_bytes: int = Field(
        3 * 1024**3,
        description="Memory the child process reading a workbook may use (reading takes about "
        "twice the unpacked sheet); a workbook that needs more is refused, nothing else is "
        "affected.",
    )
    upload_max_bytes: int = Field(
        1024**3,
        description="Largest file accepted by the console's import page (导入数据), in bytes; "
        "counted while it streams to the data directory. Only that upload route has this "
        "limit: every other request keeps SIYU_REQUEST_MAX_BYTES.",
    )
    event_batch_max: int = Field(1000, description="Most events accepted in one API batch.")
    events_earliest: date = Field(
        date(2000, 1, 1),
        description="Events timestamped before this day are refused: a time from before "
        "online shops and WeChat (1970-01-01, 0001-01-01) is a clock or unit bug in the "
        "sender, not history (events more than an hour ahead are refused too).",
    )
    request_max_bytes: int = Field(
        2 * 1024**2,
        description="Largest request body accepted, in bytes (API and console; the import "
        "page's upload has SIYU_UPLOAD_MAX_BYTES).",
    )
    worker_poll_seconds: float = Field(1.0, description="How often an idle worker looks for jobs.")
    analytics_path: Path | None = Field(
        None,
        description="DuckDB file of the analytical copy. Empty means `analytics.duckdb` in the "
        "data directory.",
    )
    analytics_overlap_seconds: int = Field(
        120,
        description="An incremental copy refresh re-reads rows changed this many seconds before "
        "the last watermark, so rows committed late by long transactions are not missed.",
    )
    analytics_erase_wait_seconds: int = Field(
        120,
        description="An erasure rebuilds the analytical copy's file without the person once "
        "nobody has it open, waiting this long for refreshes and reports to finish. If they do "
        "not, the erasure reports the rebuild as pending and the next refresh of the copy does "
        "it.",
    )
    traits_window_days: int = Field(
        365, description="RFM looks at paid orders of this many days up to the reference date."
    )
    traits_at_risk_percentile: int = Field(
        80,
        description="A customer is at risk (沉睡预警) once the days since the last purchase exceed "
        "this percentile of the population's gaps between purchases.",
    )
    traits_lapsed_percentile: int = Field(
        95,
        description="A customer has lapsed (流失) once the days since the last purchase exceed this "
        "percentile of the gaps between purchases.",
    )
    traits_fallback_at_risk_days: int = Field(
        90,
        description="At-risk threshold used while too few customers have bought twice to derive one.",
    )
    traits_fallback_lapsed_days: int = Field(
        180,
        description="Lapsed threshold used while too few customers have bought twice to derive one.",
    )
    traits_min_gaps: int = Field(
        30, description="Repeat purchases needed before the lifecycle thresholds are derived."
    )
    clv_unit: str = Field(
        "day",
        description="Time unit of the CLV model: day or week (purchases in one day count once).",
    )
    clv_months: int = Field(12, description="Months ahead that CLV adds up.")
    clv_margin: float = Field(
        1.0,
        description="Share of spend that is margin, for CLV (1.0 = CLV in revenue; e.g. 0.35 for "
        "a 35 % gross margin).",
    )
    clv_annual_discount: float = Field(
        0.10, description="Yearly discount rate applied to future margin in CLV."
    )
    traits_every_minutes: int = Field(
        60, description="How often the worker recomputes tags, RFM, lifecycle and CLV."
    )
    segments_every_minutes: int = Field(
        60,
        description="How often the worker refreshes every dynamic segment in full (rules with "
        "relative windows change as days pass).",
    )
    segments_changed_every_minutes: int = Field(
        5,
        description="How often the worker re-checks segment membership of customers whose data "
        "changed (imports also ask for it within a minute).",
    )

    metrics_cache: bool = Field(
        True,
        description="Keep the dashboard's aggregates beside the analytical copy until the copy "
        "changes (off: every view works them out again).",
    )
    metrics_warm_minutes: int = Field(
        10,
        description="How often the worker refreshes the analytical copy and, if it changed, "
        "works out the dashboard's default view ahead of the first visitor.",
    )

    sms_provider: Literal["aliyun", "tencent"] = Field(
        "aliyun", description="Whose SMS API sends: Aliyun (dysmsapi) or Tencent Cloud."
    )
    sms_endpoint: str = Field(
        "",
        description="SMS API address (empty: the provider's own, dysmsapi.aliyuncs.com or "
        "sms.tencentcloudapi.com); point it at the local gateway for a demo or a test.",
    )
    sms_access_key_id: str = Field(
        "", description="Aliyun AccessKey ID, or Tencent Cloud SecretId, for SMS."
    )
    sms_access_key_secret: str = Field(
        "",
        description="Aliyun AccessKey secret, or Tencent Cloud SecretKey, for SMS (keep it in "
        "the environment, not a file).",
    )
    sms_sdk_app_id: str = Field("", description="Tencent Cloud SMS application (SdkAppId).")
    sms_region: str = Field("ap-guangzhou", description="Tencent Cloud region of the SMS API.")
    centre_programme: str = Field(
        "",
        description="The loyalty programme (its code) the member centre (/m/) enrols customers "
        "in and shows; empty: the only programme there is.",
    )
    centre_terms_url: str = Field(
        "/static/member-terms.html",
        description="The membership terms (《会员协议》) customers accept when they join in the "
        "member centre: a page of the brand's, linked beside the box they tick.",
    )
    centre_privacy_url: str = Field(
        "/static/member-privacy.html",
        description="The privacy policy (《隐私政策》) linked beside the same box (PIPL art. 17: "
        "tell the person before collecting).",
    )
    centre_sms_sign_name: str = Field(
        "",
        description="The approved SMS signature (签名) of the member centre's sign-in code "
        "(empty: no SMS sign-in; the demo sets its simulator's).",
    )
    centre_sms_template_code: str = Field(
        "",
        description="The approved SMS template of the member centre's sign-in code; its text "
        "is SIYU_CENTRE_SMS_TEXT.",
    )
    centre_sms_text: str = Field(
        "",
        description="The approved text of that template, with ${code} (Aliyun) or {1} "
        "(Tencent) where the code goes.",
    )
    centre_sms_daily_most: int = Field(
        2000,
        ge=1,
        le=10_000_000,
        description="Sign-in codes the member centre sends in a day, all numbers together: a "
        "script with many numbers, networks and devices stops here instead of spending the SMS "
        "budget (raise it for a big launch).",
    )
    oa_appid: str = Field(
        "", description="Official account AppID for template messages (empty: no such channel)."
    )
    oa_secret: str = Field(
        "", description="Official account AppSecret (keep it in the environment)."
    )
    oa_api_base: str = Field(
        "https://api.weixin.qq.com",
        description="WeChat official-account API address; point it at the local simulator for "
        "a demo or a test.",
    )
    oa_web_auth_base: str = Field(
        "https://open.weixin.qq.com",
        description="Where customers' browsers are sent to sign in with the official account "
        "(web authorisation, 网页授权: `/connect/oauth2/authorize`); point it at the local "
        "simulator for a demo or a test. The code is then exchanged at SIYU_OA_API_BASE.",
    )
    centre_wechat_scope: Literal["snsapi_base", "snsapi_userinfo"] = Field(
        "snsapi_base",
        description="How the member centre asks WeChat who the reader is: snsapi_base (silent, "
        "the openid only) or snsapi_userinfo (WeChat asks the reader once; gives the unionid "
        "too, when the account is bound to an Open Platform account, so the member is the same "
        "person across the group's accounts and mini-programs).",
    )
    growth_sms_template_code: str = Field(
        "",
        description="The approved SMS template of referral and fission reward notices (signed "
        "with SIYU_CENTRE_SMS_SIGN_NAME); its text is SIYU_GROWTH_SMS_TEXT. Empty: no SMS notice.",
    )
    growth_sms_text: str = Field(
        "您邀请的好友订单已确认，${reward}已发放到您的会员账户",
        description="The approved text of that template, with ${reward} where the reward goes.",
    )
    growth_oa_template_id: str = Field(
        "",
        description="An official-account template (服务通知) for reward notices, tried before SMS "
        "for members who follow the account: data first, keyword1 (the reward), keyword2 (the "
        "time), remark. Empty: SMS only.",
    )
    poster_font: str = Field(
        "",
        description="A font file with Chinese glyphs for referral posters (.ttf/.ttc/.otf). Empty: "
        "the first of Debian's Noto Sans CJK, WenQuanYi or Droid fonts found (`make run` installs "
        "fonts-noto-cjk).",
    )
    oa_token: str = Field(
        "",
        description="Token of the official account's server configuration (服务器配置): its "
        "event pushes to `/oa/callback/{appid}` are signed with it (empty: the callback is off).",
    )
    oa_aes_key: str = Field(
        "",
        description="EncodingAESKey of the official account's server configuration, for safe "
        "mode (安全模式); when set, plain-text pushes are refused.",
    )
    oa_sync_every_minutes: int = Field(
        1440,
        ge=1,
        description="How often the worker reads the official account's whole follower list "
        "(subscribe/unsubscribe pushes keep Siyu current in between).",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="The address customers reach Siyu at: unsubscribe links and tracked short "
        "links in messages start with it.",
    )
    smtp_host: str = Field("", description="Mail relay for the email channel (empty: no email).")
    smtp_port: int = Field(25, description="Mail relay port (587 with STARTTLS, 465 with TLS).")
    smtp_username: str = Field("", description="Mail relay login, if it asks for one.")
    smtp_password: str = Field("", description="Mail relay password (keep it in the environment).")
    smtp_security: str = Field(
        "none", description="none, starttls or tls: how the connection to the relay is secured."
    )
    email_from: str = Field(
        "", description="The From address of marketing email, e.g. 悦颜 <news@brand.example>."
    )
    webhook_allow: str = Field(
        "",
        description="Comma-separated hosts or networks (CIDR) webhooks may reach although they "
        "are private or loopback addresses; everything else private is refused.",
    )
    reach_approval_above: int = Field(
        10_000,
        description="A campaign to more customers than this waits for approval by a second "
        "person with the campaigns:approve permission (0: every campaign).",
    )
    quiet_hours_start: int = Field(
        21,
        description="Hour (0–23, local time in SIYU_TIMEZONE) at which the quiet hours begin: "
        "marketing due then waits until they end (deferred, never dropped); service messages "
        "asked for go out at any hour (a sign-in code), those nobody waits for (a reward's "
        "notice, a guide's call-back task) when they end.",
    )
    quiet_hours_end: int = Field(
        8,
        description="Hour (0–23, local time) at which the quiet hours end. A window may cross "
        "midnight (21 → 8: from 21:00 to 08:00 the next morning) or not (1 → 6); the same hour "
        "as SIYU_QUIET_HOURS_START means no quiet hours.",
    )
    reach_lease_seconds: int = Field(
        60, description="How long a worker holds a claimed message before it counts as ambiguous."
    )
    wecom_api_base: str = Field(
        "https://qyapi.weixin.qq.com",
        description="WeCom API address; point it at `siyu simulate wecom` for a demo or a test.",
    )
    wecom_api_per_minute: int = Field(
        6000,
        description="Calls per minute Siyu allows itself per corp and API (WeCom allows 10,000 "
        "and silently drops the excess of some APIs, so Siyu stays below).",
    )
    wecom_member_per_minute: int = Field(
        30,
        description="Messages per minute Siyu sends to one staff member through the app (WeCom "
        "drops the excess silently).",
    )
    wecom_backoff_seconds: int = Field(
        60,
        ge=60,
        description="Back-off after WeCom answers 45009/45033 (rate limit), plus up to 25 % "
        "jitter; WeCom asks for at least 60 s.",
    )
    wecom_callback_skew_seconds: int = Field(
        300,
        ge=0,
        description="WeCom and official-account callbacks whose timestamp is further than this "
        "from now are refused; 0 turns the check off (for replaying recorded callbacks).",
    )
    wecom_sync_every_minutes: int = Field(
        360,
        description="How often the worker runs a full WeCom sync (callbacks keep Siyu current in "
        "between; the full sync repairs anything a missed callback left behind).",
    )
    wecom_friend_alert_at: int = Field(
        4800,
        description="Alert when a staff member has this many customer friends (WeCom's cap is "
        "5,000 per member).",
    )
    wecom_friend_stop_at: int = Field(
        4950,
        description="Live codes stop handing new customers to a staff member at this many friends.",
    )
    wecom_keep_first_owner: bool = Field(
        False,
        description="De-duplication rule: a customer who already has a guide and adds another "
        "(e.g. by scanning a live code) stays with the first guide; the add does not take a "
        "live-code turn or count against a daily limit, and the second guide is alerted.",
    )
    wecom_callback_max_bytes: int = Field(
        64 * 1024, description="Largest callback body accepted from WeCom, in bytes."
    )

    @field_validator("quiet_hours_start", "quiet_hours_end")
    @classmethod
    def _an_hour(cls, value: int, info: ValidationInfo) -> int:
        if not 0 <= value <= 23:
            name = f"SIYU_{(info.field_name or '').upper()}"
            raise ValueError(f"{name} is an hour of the day, 0 to 23; {value} is not one")
        return value

    @property
    def quiet_hours(self) -> QuietHours:
        return QuietHours(self.quiet_hours_start, self.quiet_hours_end)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'siyu.db'}"

    @property
    def resolved_analytics_path(self) -> Path:
        return self.analytics_path or self.data_dir / "analytics.duckdb"

    @property
    def is_demo(self) -> bool:
        return self.mode == Mode.demo

    def secret_key_bytes(self) -> bytes:
        """The secret key; in demo mode one is generated once and kept in the data directory."""
        if self.secret_key:
            key = self.secret_key.encode()
            if len(key) < MIN_SECRET_KEY_BYTES and not self.is_demo:
                raise WeakSecretKey(
                    f"SIYU_SECRET_KEY has {len(key)} bytes; production refuses a key shorter "
                    f"than {MIN_SECRET_KEY_BYTES} bytes (it keys the HMACs of erased customers "
                    "and the encryption of stored secrets): generate one with "
                    "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
                )
            return key
        if not self.is_demo:
            raise MissingSecretKey(
                "SIYU_SECRET_KEY is not set. Production refuses to start without it: "
                "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()


class MissingSecretKey(RuntimeError):
    pass


class WeakSecretKey(MissingSecretKey):
    """A production secret key too short to be a key (a word, a short password)."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()


runtime.forgets("settings", reset_settings)
