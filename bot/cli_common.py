"""What the command-line modules share: the usage-error type, the --config option, and opening
the database at the current schema."""

from __future__ import annotations

import argparse

from domain.config import CONFIG_ENV, Config
from storage.database import Database
from storage.migrate import current_revision, head_revision, upgrade


class CliError(Exception):
    """A usage or setup problem; the message says what to do (exit code 2)."""


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", help=f"config file (TOML); default: ${CONFIG_ENV}")


async def open_database(config: Config) -> Database:
    """The configured database: SQLite is upgraded in place; PostgreSQL must be at the head already."""
    db = Database(config.database.url, echo=config.database.echo)
    if db.dialect == "sqlite":
        await upgrade(db)
        return db
    current, head = await current_revision(db), head_revision()
    if current != head:
        await db.dispose()
        raise CliError(
            f"database schema is at {current or 'none'}, needs {head}: run `utilibot db upgrade` first"
        )
    return db
