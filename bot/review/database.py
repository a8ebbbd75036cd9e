"""Database engine, sessions and migrations for the review store (SQLite or PostgreSQL)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseError(RuntimeError):
    """The database cannot be reached or migrated; the message says which and how to fix it."""


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL with NORMAL sync: commits survive a crash of the bot; only power loss can
            # lose the last ones. FULL would fsync every commit and halve throughput.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine, attempts: int = 5, delay_s: float = 1.0) -> None:
    """Brings the schema to the newest revision, retrying while the server is unreachable."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            return
        except OperationalError as exc:
            if attempt == attempts:
                raise DatabaseError(
                    f"cannot reach the database ({engine.url.render_as_string(hide_password=True)}) "
                    f"after {attempts} attempts: {exc.orig}"
                ) from exc
            log.warning("database unreachable (attempt %d/%d), retrying", attempt, attempts)
            time.sleep(delay_s * attempt)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
