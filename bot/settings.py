"""One settings object, read from the environment and a ``.env`` file.

Built once in the entry point and passed down; importing this module reads nothing.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.db import normalize_url

DEFAULT_TELEGRAM_API = "https://api.telegram.org"
DEFAULT_ZALO_API = "https://bot-api.zaloplatforms.com"
LOCALES = ("vi", "en")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    bot_token: SecretStr | None = Field(default=None, validation_alias="BOT_TOKEN")
    telegram_api_url: str = Field(default=DEFAULT_TELEGRAM_API, validation_alias="TELEGRAM_API_URL")
    database_url: str = Field(
        default_factory=lambda: f"sqlite+aiosqlite:///{Path.cwd() / 'congdoan.db'}",
        validation_alias="DATABASE_URL",
    )
    locale: str = Field(default="vi", validation_alias="BOT_LOCALE")
    timezone: str = Field(default="Asia/Ho_Chi_Minh", validation_alias=AliasChoices("BOT_TZ", "TZ"))
    webhook_url: str | None = Field(default=None, validation_alias="WEBHOOK_URL")
    webhook_secret: SecretStr | None = Field(default=None, validation_alias="WEBHOOK_SECRET")
    webhook_host: str = Field(default="0.0.0.0", validation_alias="WEBHOOK_HOST")
    webhook_port: int = Field(default=8080, ge=1, le=65535, validation_alias="WEBHOOK_PORT")

    # Zalo (the Zalo Bot Platform): set ZALO_BOT_TOKEN to serve members there too.  Polling,
    # or a webhook when ZALO_WEBHOOK_URL is set (its secret in ZALO_WEBHOOK_SECRET; it is
    # served by the same web server as Telegram's, on WEBHOOK_HOST:WEBHOOK_PORT).
    zalo_bot_token: SecretStr | None = Field(default=None, validation_alias="ZALO_BOT_TOKEN")
    zalo_api_url: str = Field(default=DEFAULT_ZALO_API, validation_alias="ZALO_API_URL")
    zalo_webhook_url: str | None = Field(default=None, validation_alias="ZALO_WEBHOOK_URL")
    zalo_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="ZALO_WEBHOOK_SECRET"
    )
    zalo_delivery_rate: float = Field(default=10.0, gt=0, validation_alias="ZALO_DELIVERY_RATE")
    zalo_delivery_per_chat_rate: float = Field(
        default=1.0, gt=0, validation_alias="ZALO_DELIVERY_PER_CHAT_RATE"
    )

    delivery_rate: float = Field(default=25.0, gt=0, validation_alias="DELIVERY_RATE")
    delivery_per_chat_rate: float = Field(
        default=1.0, gt=0, validation_alias="DELIVERY_PER_CHAT_RATE"
    )
    delivery_concurrency: int = Field(
        default=16, ge=1, le=256, validation_alias="DELIVERY_CONCURRENCY"
    )

    # Retention (bot.services.retention: one purge a day, by the scheduler, in every mode;
    # ``congdoan purge --dry-run`` shows what would go).  Handled and answered updates (what
    # members typed) leave the inbox after RETAIN_INBOX_DAYS (INBOX_RETENTION_DAYS, its old
    # name, is still read); updates set aside, kept for an operator's replay, after
    # RETAIN_FAILED_INBOX_DAYS.
    retain_inbox_days: int = Field(
        default=7,
        ge=1,
        le=3650,
        validation_alias=AliasChoices("RETAIN_INBOX_DAYS", "INBOX_RETENTION_DAYS"),
    )
    retain_failed_inbox_days: int = Field(
        default=30, ge=1, le=3650, validation_alias="RETAIN_FAILED_INBOX_DAYS"
    )
    # Sent, failed and unreachable messages (the outbox), except the notice deliveries of a
    # year not closed (its indicators count them); their error texts are blanked sooner.
    retain_delivery_days: int = Field(
        default=400, ge=1, le=36500, validation_alias="RETAIN_DELIVERY_DAYS"
    )
    retain_delivery_errors_days: int = Field(
        default=30, ge=1, le=36500, validation_alias="RETAIN_DELIVERY_ERRORS_DAYS"
    )
    # Closed and withdrawn cases of a closed year, this many years after their last change.
    retain_closed_cases_years: int = Field(
        default=5, ge=1, le=100, validation_alias="RETAIN_CLOSED_CASES_YEARS"
    )
    # Rejected link requests (a name and a phone of someone not linked).
    retain_rejected_links_days: int = Field(
        default=30, ge=1, le=36500, validation_alias="RETAIN_REJECTED_LINKS_DAYS"
    )
    retain_audit_years: int = Field(default=5, ge=1, le=100, validation_alias="RETAIN_AUDIT_YEARS")

    quiet_hours: str = Field(default="21:00-07:00", validation_alias="QUIET_HOURS")
    reminder_max: int = Field(default=3, ge=0, le=20, validation_alias="REMINDER_MAX")
    # Members who have not pressed "Đã nắm" get NOTICE_REMINDERS automatic reminders, the
    # first NOTICE_REMIND_AFTER hours after the notice reached them (0: no automatic ones).
    notice_remind_after: float = Field(
        default=48.0, ge=0, le=24 * 30, validation_alias="NOTICE_REMIND_AFTER"
    )
    notice_reminders: int = Field(default=1, ge=0, le=20, validation_alias="NOTICE_REMINDERS")
    scheduler_interval: float = Field(
        default=60.0, ge=1, le=3600, validation_alias="SCHEDULER_INTERVAL"
    )
    # An urgent case nobody has opened after this many hours is sent to the next level up.
    urgent_escalate_after: float = Field(
        default=4.0, gt=0, le=24 * 14, validation_alias="URGENT_ESCALATE_AFTER"
    )
    # New cases (not urgent) and link requests are announced to the officers who must see to
    # them in one message, at most every this many hours (never during quiet hours).
    officer_news_every: float = Field(
        default=3.0, gt=0, le=24 * 7, validation_alias="OFFICER_NEWS_EVERY"
    )
    digest_day: str = Field(default="mon", validation_alias="DIGEST_DAY")
    digest_time: str = Field(default="08:00", validation_alias="DIGEST_TIME")

    # The closing block of an exported report to superiors (the workbook's summary sheet):
    # "<place>, ngày … tháng … năm …", the signer's title and the recipients ("Nơi nhận").
    # The title and the recipients are lists split at ";" (one line each).
    report_place: str = Field(default="Lâm Đồng", min_length=1, validation_alias="REPORT_PLACE")
    report_signer_title: str = Field(
        default="TM. BAN THƯỜNG VỤ", min_length=1, validation_alias="REPORT_SIGNER_TITLE"
    )
    report_recipients: str = Field(
        default="LĐLĐ tỉnh Lâm Đồng (b/c); Lưu: VT", validation_alias="REPORT_RECIPIENTS"
    )

    # The dashboard in a browser (bot.web): served by ``congdoan serve`` when WEB_BASE_URL is
    # set, or alone by ``congdoan web``.  WEB_BASE_URL is the address officers open (the
    # sign-in links sent by ``/web`` start with it); over https the cookies are Secure.
    web_host: str = Field(default="127.0.0.1", validation_alias="WEB_HOST")
    web_port: int = Field(default=8090, ge=1, le=65535, validation_alias="WEB_PORT")
    web_base_url: str | None = Field(default=None, validation_alias="WEB_BASE_URL")
    # A sign-in link is good for WEB_LINK_MINUTES and once; a session ends after
    # WEB_SESSION_HOURS without a request (and at most 12 hours after sign-in).
    web_link_minutes: int = Field(default=10, ge=1, le=60, validation_alias="WEB_LINK_MINUTES")
    web_session_hours: float = Field(default=2.0, gt=0, le=12, validation_alias="WEB_SESSION_HOURS")

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        start, sep, end = value.replace(" ", "").partition("-")
        try:
            if not sep:
                raise ValueError
            time.fromisoformat(start)
            time.fromisoformat(end)
        except ValueError:
            raise ValueError("must be HH:MM-HH:MM, e.g. 21:00-07:00") from None
        return f"{start}-{end}"

    @field_validator("report_place", "report_signer_title", "report_recipients", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("digest_day")
    @classmethod
    def _day(cls, value: str) -> str:
        day = value.strip().lower()[:3]
        if day not in WEEKDAYS:
            raise ValueError(f"must be one of {', '.join(WEEKDAYS)}")
        return day

    @field_validator("digest_time")
    @classmethod
    def _digest_time(cls, value: str) -> str:
        try:
            return time.fromisoformat(value.strip()).strftime("%H:%M")
        except ValueError:
            raise ValueError("must be HH:MM, e.g. 08:00") from None

    @property
    def quiet(self) -> tuple[time, time]:
        start, _, end = self.quiet_hours.partition("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    @property
    def digest_weekday(self) -> int:
        return WEEKDAYS.index(self.digest_day)

    @field_validator(
        "telegram_api_url", "webhook_url", "zalo_api_url", "zalo_webhook_url", "web_base_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None if value == "" else value
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        normalize_url(value)  # raises DatabaseUrlError (a ValueError) saying what is wrong
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return value

    @field_validator("timezone", mode="before")
    @classmethod
    def _tz(cls, value: str) -> str:
        value = (value or "").strip().lstrip(":") or "Asia/Ho_Chi_Minh"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("is not a known IANA time zone (e.g. Asia/Ho_Chi_Minh)") from exc
        return value

    def web_url(self) -> str:
        """Where officers open the dashboard: WEB_BASE_URL, else this machine's own address."""
        if self.web_base_url:
            return self.web_base_url
        host = "127.0.0.1" if self.web_host in ("0.0.0.0", "::", "") else self.web_host
        return f"http://{host}:{self.web_port}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def require_token(self) -> str:
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise SettingsError("BOT_TOKEN is not set: put the token from @BotFather in it")
        token = self.bot_token.get_secret_value().strip()
        left, _, right = token.partition(":")
        if not left.isdigit() or not right:
            raise SettingsError("BOT_TOKEN is malformed: expected <digits>:<secret>")
        return token

    @property
    def zalo_enabled(self) -> bool:
        return self.zalo_bot_token is not None and bool(
            self.zalo_bot_token.get_secret_value().strip()
        )

    def require_zalo_token(self) -> str:
        if not self.zalo_enabled:
            raise SettingsError("ZALO_BOT_TOKEN is not set: put the token from Zalo Bot Creator")
        assert self.zalo_bot_token is not None
        token = self.zalo_bot_token.get_secret_value().strip()
        left, _, right = token.partition(":")
        if not left.isdigit() or not right or any(c.isspace() for c in token):
            raise SettingsError("ZALO_BOT_TOKEN is malformed: expected <digits>:<secret>")
        return token

    def require_zalo_webhook_secret(self) -> str:
        """Zalo takes a secret of 8 to 256 characters."""
        secret = self.zalo_webhook_secret.get_secret_value() if self.zalo_webhook_secret else ""
        if not secret:
            raise SettingsError("ZALO_WEBHOOK_SECRET must be set when ZALO_WEBHOOK_URL is set")
        if not 8 <= len(secret) <= 256 or not all(c.isalnum() or c in "_-" for c in secret):
            raise SettingsError("ZALO_WEBHOOK_SECRET must be 8-256 of A-Z, a-z, 0-9, _ and -")
        return secret

    def require_webhook_secret(self) -> str:
        if self.webhook_secret is None or not self.webhook_secret.get_secret_value():
            raise SettingsError("WEBHOOK_SECRET must be set when WEBHOOK_URL is set")
        secret = self.webhook_secret.get_secret_value()
        if not all(c.isalnum() or c in "_-" for c in secret) or len(secret) > 256:
            raise SettingsError("WEBHOOK_SECRET may hold only A-Z, a-z, 0-9, _ and - (1-256)")
        return secret


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a bad value raises :class:`SettingsError` naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = str(first["loc"][0]) if first["loc"] else "?"
        var = {"BOT_TZ": "TZ (or BOT_TZ)"}.get(loc, loc.upper())
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{var} is invalid: {message}") from None
