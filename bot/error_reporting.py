"""Opt-in error reports to Sentry (``pip install utilibot[sentry]`` and ``[monitoring] sentry_dsn``):
the exceptions of handlers and scheduler jobs, which are logged with their traceback, become
Sentry events through the SDK's logging integration.

Personal data never leaves: every event is scrubbed before it is sent. Stack frames lose their
local variables and source lines (file, function and line number stay), log messages their
arguments (the template stays: "update from %s chat %s failed"), exception texts their digit runs
and quoted parts (account numbers, amounts, names, addresses, message texts), and events carry no
request, user, extra data or breadcrumb data.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bot.errors import StartupError
from domain.config import Config
from domain.masking import Redactor

_DIGITS = re.compile(r"\d{3,}")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|«[^»]*»")


def scrub_text(text: str, redact: Redactor) -> str:
    return _DIGITS.sub("#", _QUOTED.sub("'…'", redact(text)))


def scrub_event(event: dict[str, Any], redact: Redactor) -> dict[str, Any]:
    """The event as it may leave the process (see the module's docstring)."""
    for key in ("request", "user", "extra", "server_name"):
        event.pop(key, None)
    logentry = event.get("logentry")
    if isinstance(logentry, dict):
        logentry.pop("params", None)
        logentry.pop("formatted", None)
        if isinstance(logentry.get("message"), str):
            logentry["message"] = scrub_text(logentry["message"], redact)
    if isinstance(event.get("message"), str):
        event["message"] = scrub_text(event["message"], redact)
    for exception in (event.get("exception") or {}).get("values") or []:
        if isinstance(exception.get("value"), str):
            exception["value"] = scrub_text(exception["value"], redact)
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            for key in ("vars", "pre_context", "context_line", "post_context"):
                frame.pop(key, None)
    breadcrumbs = event.get("breadcrumbs")
    values = breadcrumbs.get("values", []) if isinstance(breadcrumbs, dict) else breadcrumbs or []
    for crumb in values:
        scrub_breadcrumb(crumb, redact)
    return event


def scrub_breadcrumb(crumb: dict[str, Any], redact: Redactor) -> dict[str, Any]:
    crumb.pop("data", None)
    if isinstance(crumb.get("message"), str):
        crumb["message"] = scrub_text(crumb["message"], redact)
    return crumb


def start_error_reporting(config: Config, release: str, secrets: list[str]) -> bool:
    """Start the Sentry SDK when a DSN is configured; False when reporting is off."""
    dsn = config.monitoring.sentry_dsn
    if not dsn:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.logging import LoggingIntegration
    except ImportError:
        raise StartupError(
            "[monitoring] sentry_dsn is set but the Sentry SDK is not installed: "
            "pip install 'utilibot[sentry]'"
        ) from None
    redact = Redactor(secrets)
    sentry_sdk.init(
        dsn=dsn,
        release=f"utilibot@{release}",
        environment=config.monitoring.sentry_environment,
        # Errors logged with their traceback become events; no framework hooks (their request and
        # query data are not ours to send).
        integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
        auto_enabling_integrations=False,
        before_send=lambda event, _hint: scrub_event(event, redact),
        before_breadcrumb=lambda crumb, _hint: scrub_breadcrumb(crumb, redact),
    )
    return True
