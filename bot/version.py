"""The installed distribution's version, for ``--version``, logs and ``utilibot_build_info``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def utilibot_version() -> str:
    """'unknown' when run from a tree that is not installed."""
    try:
        return version("utilibot")
    except PackageNotFoundError:
        return "unknown"
