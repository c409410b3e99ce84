"""SQLAlchemy engines for the users database: SQLite (WAL, queued writers) or PostgreSQL."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

DATABASE_FILE = "users.sqlite"


def create_engine(url: str) -> sa.Engine:
    """An engine for a database URL: SQLite in WAL mode whose write transactions queue (BEGIN IMMEDIATE), or PostgreSQL
    through psycopg."""
    if url.startswith("sqlite"):
        folder = None
        if sa.engine.make_url(url).database in (None, "", ":memory:"):
            # a throw-away file, not memory: SQLite's memory database is one connection per thread, or one shared by all
            # threads, whose transactions (a background refit's read, a request's write) would then run into each other
            folder = tempfile.TemporaryDirectory(prefix="dressup-events-")
            url = f"sqlite:///{Path(folder.name) / DATABASE_FILE}"
        engine = sa.create_engine(url, connect_args={"timeout": 60})
        engine.temporary_folder = folder  # deleted with the engine

        @sa.event.listens_for(engine, "connect")
        def _connect(connection, _record):
            connection.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
            _write_ahead_log(connection)
            connection.execute("PRAGMA foreign_keys=ON")
            connection.execute("PRAGMA busy_timeout=60000")

        @sa.event.listens_for(engine, "begin")
        def _begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("write_lock") else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=60)


def _write_ahead_log(connection, attempts: int = 40) -> None:
    """Switch an SQLite database to WAL. SQLite answers "locked" at once, not waiting for its busy timeout, while
    another connection is switching the same new file, so several processes opening a new store try again."""
    for attempt in range(attempts):
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.025 * (1 + attempt % 8))


def safe_url(url: str) -> str:
    """The URL without its password."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(malformed URL)"
