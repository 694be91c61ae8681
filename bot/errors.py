"""The error a service start-up (or a running channel) raises when it cannot go on; the CLI prints
its message as one line and exits."""

from __future__ import annotations


class StartupError(Exception):
    """The service cannot start (or must stop); the message says what to do."""
