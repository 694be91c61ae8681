"""Process-wide logging from ``[logging]``: text or JSON lines, each naming the channel and the
update it belongs to; secrets redacted from every line (tracebacks included); aiogram's request
URLs (which hold the token) never logged."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from domain.config import Config
from domain.masking import LOG_SCOPE, Redactor
from storage.database import url_password

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(channel)s %(update)s]: %(message)s"


class _Scoped(logging.Filter):
    """Adds ``channel`` and ``update`` (from the engine's log scope) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = LOG_SCOPE.get()
        record.channel, record.update = scope.channel, scope.update
        return True


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "channel": getattr(record, "channel", "-"),
            "update": getattr(record, "update", "-"),
            "message": self.redact(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def secrets_of(config: Config | None) -> list[str]:
    """Every secret the config holds, to be redacted from any log line."""
    if config is None:
        return []
    secrets = [
        config.telegram.token,
        config.telegram.webhook_secret,
        config.viber.token,
        config.monitoring.sentry_dsn,
        url_password(config.database.url),
    ]
    return [secret for secret in secrets if secret]


def configure_logging(config: Config | None, verbose: bool = False, quiet_migrations: bool = False) -> None:
    """Replace the root handlers with one that writes scoped, redacted lines to stderr."""
    settings = config.logging if config is not None else None
    level = logging.DEBUG if verbose else getattr(logging, settings.level if settings else "INFO")
    redact = Redactor(secrets_of(config))
    handler = logging.StreamHandler()
    handler.addFilter(_Scoped())
    json_lines = settings is not None and settings.format == "json"
    handler.setFormatter(JsonFormatter(redact) if json_lines else TextFormatter(redact))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiogram logs request URLs at debug level, and they contain the token.
    logging.getLogger("aiogram").setLevel(max(level, logging.INFO))
    if quiet_migrations:
        logging.getLogger("alembic").setLevel(logging.WARNING)
