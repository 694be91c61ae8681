"""Typed configuration: TOML file + environment overrides, validated with pydantic.

A wrong or missing key stops start-up with a ConfigError naming the key, e.g.
``providers[0].timezone: unknown time zone 'Europe/Kiev2'``.
"""

from __future__ import annotations

import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.payment_qr import PaymentQr, UrlQr, build_payload, check_link_template, fill_link
from domain.qr_image import fit_symbol
from domain.requests import BUILTIN_KINDS, FREE, HEATING, MONTH_DAY, ApplicationWindow

SUPPORTED_LOCALES = ("uk", "ru", "zh", "en")
CONFIG_ENV = "UTILIBOT_CONFIG"
VIBER_NAME_MAX = 28  # Viber REST API: sender.name, max 28 characters
WORST_CASE_PERIOD = "2025-12"  # every period fills in the same length (MM.YYYY / YYYY-MM)

# Environment variables that override secrets and deployment-specific keys.
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "UTILIBOT_DATABASE_URL": ("database", "url"),
    "UTILIBOT_TELEGRAM_TOKEN": ("telegram", "token"),
    "UTILIBOT_TELEGRAM_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    "UTILIBOT_VIBER_TOKEN": ("viber", "token"),
    "UTILIBOT_TELEGRAM_LISTEN": ("telegram", "listen"),
    "UTILIBOT_VIBER_LISTEN": ("viber", "listen"),
    "UTILIBOT_MONITORING_LISTEN": ("monitoring", "listen"),
    "UTILIBOT_SENTRY_DSN": ("monitoring", "sentry_dsn"),
    "UTILIBOT_LOG_FORMAT": ("logging", "format"),
    "UTILIBOT_LOG_LEVEL": ("logging", "level"),
}


TELEGRAM_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,100}")
VIBER_TOKEN = re.compile(r"[A-Za-z0-9-]{1,128}")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the offending key(s).

    ``problems`` holds one line per bad key (``check-config`` prints them one per line)."""

    def __init__(self, *problems: str, source: str = "") -> None:
        self.source = source
        self.problems = list(problems)
        text = "; ".join(self.problems)
        super().__init__(f"{source}: {text}" if source else text)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Strict):
    url: str = "sqlite+aiosqlite:///utilibot.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value


class TelegramConfig(_Strict):
    token: str = ""
    api_base_url: str = ""
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_secret: str = ""
    listen: str = "127.0.0.1:8080"
    operators: list[int] = Field(default_factory=list)
    # The group (a negative chat id) where residents' requests are posted and answered; 0: none.
    operators_chat_id: int = 0
    polling_timeout: Annotated[int, Field(ge=0, le=50)] = 25

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        # BotFather's tokens are "<bot id>:<secret>"; this catches pasted quotes, spaces, a "bot"
        # prefix or a whole URL without pretending to know the secret's exact length.
        if value and not TELEGRAM_TOKEN.fullmatch(value):
            raise ValueError("does not look like a Bot API token (digits, ':', then letters, digits, _ or -)")
        return value

    @field_validator("operators")
    @classmethod
    def _user_ids(cls, value: list[int]) -> list[int]:
        wrong = [uid for uid in value if uid <= 0]
        if wrong:
            raise ValueError(f"operators are Telegram user ids (positive numbers), not chats: {wrong}")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_charset(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> TelegramConfig:
        if self.token and self.mode == "webhook":
            if not self.webhook_url.startswith("https://"):
                raise ValueError("webhook_url: an https:// URL is required when mode = 'webhook'")
            if not self.webhook_secret:
                raise ValueError("webhook_secret: required when mode = 'webhook'")
        return self


class ViberConfig(_Strict):
    token: str = ""
    name: str = "Utility bot"
    avatar: str = ""
    api_base_url: str = "https://chatapi.viber.com/pa"
    webhook_url: str = ""
    listen: str = "127.0.0.1:8443"
    operators: list[str] = Field(default_factory=list)

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        if value and not VIBER_TOKEN.fullmatch(value):
            raise ValueError("does not look like a Viber auth token (letters, digits and -, no spaces)")
        return value

    @field_validator("name")
    @classmethod
    def _sender_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty (Viber shows it as the sender of every message)")
        if len(value) > VIBER_NAME_MAX:
            raise ValueError(f"longer than {VIBER_NAME_MAX} characters ({len(value)}), Viber's limit")
        return value

    @model_validator(mode="after")
    def _webhook_when_on(self) -> ViberConfig:
        if self.token:
            host = urlsplit(self.webhook_url).hostname or ""
            if not self.webhook_url:
                raise ValueError("webhook_url: required when the Viber token is set (Viber has no polling)")
            if not self.webhook_url.startswith("https://") and host not in ("127.0.0.1", "localhost", "::1"):
                raise ValueError("webhook_url: Viber only calls https:// URLs")
        return self


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class QuietHoursConfig(_Strict):
    """Local hours (bot time zone) when common messages wait; start == end turns them off."""

    start: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "21:00"
    end: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "09:00"


class BotConfig(_Strict):
    default_locale: str = "uk"
    timezone: str = "Europe/Kyiv"
    locales: list[str] = Field(default_factory=lambda: list(SUPPORTED_LOCALES))
    max_verification_failures: Annotated[int, Field(ge=1, le=100)] = 5
    delivery_rate_per_second: Annotated[int, Field(ge=1, le=1000)] = 30
    quiet_hours: QuietHoursConfig = QuietHoursConfig()
    # Reminders: the daily check's local hour, how many days before the due date, and the debt
    # above which a payment reminder is sent.
    reminder_hour: Annotated[int, Field(ge=0, le=23)] = 10
    payment_reminder_days: Annotated[int, Field(ge=0, le=31)] = 3
    payment_reminder_min_debt: Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)] = Decimal(
        "50.00"
    )
    # Residents' requests (their texts, photos, contacts) are deleted this many days after closing.
    requests_days: Annotated[int, Field(ge=1, le=3650)] = 365
    # The audit trail (operators' actions, paused accounts, disowned bindings) is kept this long.
    audit_days: Annotated[int, Field(ge=30, le=3650)] = 365

    _zone = field_validator("timezone")(_check_zone)

    @field_validator("locales")
    @classmethod
    def _known_locales(cls, value: list[str]) -> list[str]:
        unknown = [code for code in value if code not in SUPPORTED_LOCALES]
        if unknown or not value:
            raise ValueError(f"must be a non-empty subset of {list(SUPPORTED_LOCALES)}, got {value}")
        return value

    @model_validator(mode="after")
    def _default_in_locales(self) -> BotConfig:
        if self.default_locale not in self.locales:
            raise ValueError(f"default_locale: {self.default_locale!r} is not in locales {self.locales}")
        return self


class ReadingWindow(_Strict):
    """Days of the month when readings are accepted; negative days count from the month end."""

    from_day: Annotated[int, Field(ge=-28, le=31)]
    to_day: Annotated[int, Field(ge=-28, le=31)]

    @model_validator(mode="after")
    def _no_zero(self) -> ReadingWindow:
        if self.from_day == 0 or self.to_day == 0:
            raise ValueError("from_day/to_day: 0 is not a day; use 1..31 or -1..-28 (from the month end)")
        return self


class PaymentLink(_Strict):
    title: dict[str, str] | str
    url: str

    @field_validator("url")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_link_template(value)

    def localized_title(self, locale: str) -> str:
        return self.title if isinstance(self.title, str) else pick_localized(self.title, locale)


class Notice(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
    cron: str
    text_key: str = ""
    text: dict[str, str] = Field(default_factory=dict)


class RequestKind(_Strict):
    """A kind of resident request (``[[providers.requests]]``): a built-in one's id changes its
    name or answer time, a new id adds a kind. ``answer_hours`` is the promised answer time;
    ``deadline``/``opens`` (MM-DD) bound a seasonal application such as the heating one."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,23}$")]
    name: dict[str, str] = Field(default_factory=dict)
    answer_hours: Annotated[int, Field(ge=1, le=720)] | None = None
    urgent: bool = False
    form: Literal["free", "contact", "heating"] = FREE
    opens: Annotated[str, Field(pattern=MONTH_DAY.pattern)] = "04-16"
    deadline: Annotated[str, Field(pattern=MONTH_DAY.pattern)] | None = None
    min_seasons: Annotated[int, Field(ge=1, le=10)] = 1

    @property
    def window(self) -> ApplicationWindow | None:
        if self.form != HEATING or self.deadline is None:
            return None
        return ApplicationWindow(self.opens, self.deadline)


def _request_kinds(configured: list[RequestKind]) -> tuple[RequestKind, ...]:
    """The built-in kinds with the configured fields over them, then the configured new kinds."""
    given = {kind.id: kind for kind in configured}
    kinds: list[RequestKind] = []
    for builtin in BUILTIN_KINDS:
        base = {
            "id": builtin.id,
            "answer_hours": builtin.answer_hours,
            "urgent": builtin.urgent,
            "form": builtin.form,
        }
        own = given.pop(builtin.id, None)
        kinds.append(RequestKind(**{**base, **(own.model_dump(exclude_unset=True) if own else {})}))
    return (*kinds, *given.values())


class ProviderConfig(_Strict):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    name: dict[str, str]
    timezone: str = "Europe/Kyiv"
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "UAH"
    verification: Literal["last_payment", "address", "surname"] = "last_payment"
    reading_window: ReadingWindow = ReadingWindow(from_day=20, to_day=25)
    hotline: str = ""
    hours: dict[str, str] | str = ""
    email: str = ""
    website: str = ""
    payment_links: list[PaymentLink] = Field(default_factory=list)
    payment_qr: PaymentQr | None = None
    # The longest account number this provider issues (characters): the payment QR code is
    # checked at start-up with an account of this length, the largest amount and the purpose.
    account_max_length: Annotated[int, Field(ge=1, le=64)] = 20
    payment_due_day: Annotated[int, Field(ge=1, le=31)] = 15
    notices: list[Notice] = Field(default_factory=list)
    # Names residents read for billing codes, per language: services on charges, units of meters,
    # payment channels. They extend or override the built-in catalog of domain/services.py.
    services: dict[str, dict[str, str]] = Field(default_factory=dict)
    units: dict[str, dict[str, str]] = Field(default_factory=dict)
    channels: dict[str, dict[str, str]] = Field(default_factory=dict)
    requests: list[RequestKind] = Field(default_factory=list)

    @model_validator(mode="after")
    def _url_qr_needs_a_link(self) -> ProviderConfig:
        if isinstance(self.payment_qr, UrlQr) and not self.payment_links:
            raise ValueError("payment_qr: standard 'url' needs a payment link, but payment_links is empty")
        return self

    @model_validator(mode="after")
    def _purpose_locales(self) -> ProviderConfig:
        purpose = getattr(self.payment_qr, "purpose", "")
        codes = [] if isinstance(purpose, str) else list(purpose)
        unknown = [code for code in codes if code not in SUPPORTED_LOCALES]
        if unknown:
            allowed = list(SUPPORTED_LOCALES)
            raise ValueError(f"payment_qr.purpose: unknown locale(s) {unknown}; use {allowed}")
        return self

    @model_validator(mode="after")
    def _request_kinds_named(self) -> ProviderConfig:
        builtin = {kind.id for kind in BUILTIN_KINDS}
        for index, kind in enumerate(self.requests):
            if kind.id not in builtin and not kind.name:
                raise ValueError(
                    f"requests[{index}].name: a new kind ({kind.id!r}) needs a name, e.g. {{ en = '…' }}"
                )
            unknown = [code for code in kind.name if code not in SUPPORTED_LOCALES]
            if unknown:
                raise ValueError(f"requests[{index}].name: unknown locale(s) {unknown}")
        ids = [kind.id for kind in self.requests]
        if len(set(ids)) != len(ids):
            raise ValueError("requests: a kind id is given twice")
        return self

    _zone = field_validator("timezone")(_check_zone)

    @field_validator("name")
    @classmethod
    def _name_present(cls, value: dict[str, str]) -> dict[str, str]:
        if not value or not all(isinstance(text, str) and text.strip() for text in value.values()):
            raise ValueError("needs at least one non-empty localized name, e.g. { en = 'Water' }")
        unknown = [code for code in value if code not in SUPPORTED_LOCALES]
        if unknown:
            raise ValueError(f"unknown locale(s) {unknown}; use {list(SUPPORTED_LOCALES)}")
        return value

    @field_validator("services", "units", "channels")
    @classmethod
    def _code_names(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for code, names in value.items():
            unknown = [locale for locale in names if locale not in SUPPORTED_LOCALES]
            if not code.strip() or not names or unknown or not all(text.strip() for text in names.values()):
                raise ValueError(
                    f"{code!r}: needs non-empty names in {list(SUPPORTED_LOCALES)}, e.g. {{ en = 'Heating' }}"
                )
        return value

    @field_validator("units")
    @classmethod
    def _unit_codes_fold(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        """Unit codes match regardless of case and of '³' ("Gcal", "m³"), as domain/services.py does."""
        return {unit_code(code): names for code, names in value.items()}

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def localized_name(self, locale: str) -> str:
        return pick_localized(self.name, locale)

    def localized_hours(self, locale: str) -> str:
        return self.hours if isinstance(self.hours, str) else pick_localized(self.hours, locale)

    @property
    def request_kinds(self) -> tuple[RequestKind, ...]:
        return _request_kinds(self.requests)

    def request_kind(self, kind_id: str) -> RequestKind:
        for kind in self.request_kinds:
            if kind.id == kind_id:
                return kind
        raise KeyError(kind_id)


def unit_code(text: str) -> str:
    """A unit as a lookup key: "Gcal" / "kWh" / "m³" → "gcal" / "kwh" / "m3"."""
    return text.strip().lower().replace("³", "3")


def pick_localized(texts: dict[str, str], locale: str) -> str:
    """The text for ``locale``, else English, else the first one given."""
    return texts.get(locale) or texts.get("en") or next(iter(texts.values()))


def _check_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if value and (not sep or not host or not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:9108")
    return value


class MonitoringConfig(_Strict):
    """``[monitoring]``: /healthz and /metrics on ``listen`` (off when empty); errors to Sentry."""

    listen: str = ""
    sentry_dsn: str = ""  # needs the extra utilibot[sentry]
    sentry_environment: str = "production"

    _listen = field_validator("listen")(_check_listen)

    @field_validator("sentry_dsn")
    @classmethod
    def _dsn_shape(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^@\s/]+@[^\s/]+/\S+", value):
            raise ValueError("must be a Sentry DSN: https://KEY@HOST/PROJECT")
        return value


class LoggingConfig(_Strict):
    """``[logging]``: one line per event, as text or as JSON objects."""

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class Config(_Strict):
    database: DatabaseConfig = DatabaseConfig()
    telegram: TelegramConfig = TelegramConfig()
    viber: ViberConfig = ViberConfig()
    bot: BotConfig = BotConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    logging: LoggingConfig = LoggingConfig()
    providers: list[ProviderConfig]

    @model_validator(mode="after")
    def _unique_providers(self) -> Config:
        if not self.providers:
            raise ValueError("providers: at least one [[providers]] table is required")
        ids = [provider.id for provider in self.providers]
        duplicates = sorted({pid for pid in ids if ids.count(pid) > 1})
        if duplicates:
            raise ValueError(f"providers: duplicate id(s) {duplicates}")
        return self

    @property
    def bot_zone(self) -> ZoneInfo:
        """The service's own time zone, for moments not tied to one provider (e.g. a lockout's end)."""
        return ZoneInfo(self.bot.timezone)

    def provider(self, provider_id: str) -> ProviderConfig:
        for provider in self.providers:
            if provider.id == provider_id:
                return provider
        raise KeyError(provider_id)


def _format_location(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _apply_env(data: dict, environ: dict[str, str]) -> dict:
    for variable, (section, key) in ENV_OVERRIDES.items():
        if environ.get(variable):
            data.setdefault(section, {})[key] = environ[variable]
    return data


def payment_problems(config: Config) -> list[str]:
    """Every provider whose payment QR code cannot be built for its worst case, one line each.

    The worst case: an account of ``account_max_length`` characters, the largest amount the
    standard's amount field holds and the purpose template of every language filled in. Each
    payload is checked against the standard's field and byte limits and must fit a symbol the
    standard allows (version and error correction level). ``parse_config`` raises these as a
    ConfigError, and ``check-config`` lists them one per line.
    """
    problems: list[str] = []
    for index, provider in enumerate(config.providers):
        qr = provider.payment_qr
        if qr is None:
            continue
        key = f"providers[{index}].payment_qr"
        account = "9" * provider.account_max_length
        link = (
            fill_link(provider.payment_links[0].url, account, qr.max_amount, WORST_CASE_PERIOD)
            if provider.payment_links
            else None
        )
        case = f"account_max_length = {provider.account_max_length}, amount {qr.max_amount}"
        # Each language's purpose template, once (one template serves every language).
        purposes: dict[str, str] = {}
        for locale in config.bot.locales:
            purposes.setdefault("" if isinstance(qr, UrlQr) else qr.purpose_for(locale), locale)
        for locale in purposes.values():
            try:
                payload = build_payload(qr, account, qr.max_amount, WORST_CASE_PERIOD, link, locale)
                fit_symbol(payload, qr.symbol_rule)
            except ValueError as error:
                field, _, detail = str(error).partition(": ")
                where = f"{key}.{qr.standard}.{field}" if detail else f"{key}.{qr.standard}"
                language = "" if len(purposes) == 1 else f"purpose for '{locale}', "
                problems.append(f"{where}: {detail or error} (worst case: {language}{case})")
    return problems


def parse_config(data: dict, source: str = "config", environ: dict[str, str] | None = None) -> Config:
    """Validate a config mapping; environment overrides are applied first. Includes the
    worst-case payment QR check (``payment_problems``)."""
    data = _apply_env(dict(data), dict(os.environ) if environ is None else environ)
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            location = _format_location(problem["loc"]) or "(top level)"
            message = problem["msg"].removeprefix("Value error, ")
            if problem["type"] == "extra_forbidden":
                message = "unknown key"
            elif problem["type"] == "missing":
                message = "required key is missing"
            lines.append(f"{location}: {message}")
        raise ConfigError(*lines, source=source) from None
    problems = payment_problems(config)
    if problems:
        raise ConfigError(*problems, source=source)
    return config


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config from ``path`` or from $UTILIBOT_CONFIG."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if not chosen:
        raise ConfigError(f"no config file: pass -c config.toml or set {CONFIG_ENV}")
    file = Path(chosen)
    try:
        raw = file.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read config file ({error.strerror})", source=str(file)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"not valid TOML: {error}", source=str(file)) from None
    return parse_config(data, source=str(file))


def enabled_channels(config: Config) -> tuple[str, ...]:
    """Channels the delivery loop can send to (their token is set)."""
    channels: list[str] = []
    if config.telegram.token:
        channels.append("telegram")
    if config.viber.token:
        channels.append("viber")
    return tuple(channels)
