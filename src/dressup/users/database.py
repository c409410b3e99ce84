"""Where users and their events live: an SQLite file in the store, or PostgreSQL when a URL is configured.

>>> events = EventStore.open("stores/hm")                          # doctest: +SKIP
>>> events.add("alice", "0706016001", "like")                       # doctest: +SKIP

Every write is one transaction (all of a batch, or none of it); the schema is created and kept up to date by
the Alembic migrations in `migrations/`, run on open.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from ..catalog import id_problem
from ..errors import DressUpError, first_line
from ..files import DiskFullError, is_disk_full
from .engines import DATABASE_FILE, create_engine, safe_url
from .events import EventSource
from .schema import EVENT_KINDS, Event, EventImport, Exposure, User
from .staging import FRESH, STAGED, has_import, not_yet_stored, staged_rows

MIGRATIONS = Path(__file__).parent / "migrations"
FUTURE_TOLERANCE = pd.Timedelta(days=1)  # clocks differ; an event further ahead than this is a bad timestamp
TOKEN_LIFETIME = timedelta(days=90)  # how long an access token works; a user can rotate theirs at any time
_LOCK_KEY = 7_305_117  # PostgreSQL advisory lock held while migrating
_IMPORT_LOCK_KEY = 7_305_118  # and while an import tells new events from stored ones
IMPORT_BATCH = 10_000  # events an import stores per write transaction on PostgreSQL (its writers wait in a queue)
# SQLite has no queue for its write lock: a waiting writer polls (every 100 ms at most), so an import holds it for
# short transactions (about 0.1 s) and pauses this long between them to let the API's writes in
SQLITE_IMPORT_BATCH, IMPORT_PAUSE = 2_500, 0.12


class EventError(DressUpError, ValueError):
    """An event that cannot be stored (unknown kind, rating out of 1-5, empty id ...), or an unusable database."""


class DatabaseError(EventError):
    """The database could not do what was asked (gone, read-only, locked for too long): not the request's fault."""


class UserExistsError(EventError):
    """A user id that is already registered."""


class UnknownUserError(DressUpError, KeyError):
    """A user id the database does not hold."""

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class NewEvent:
    """An event to store; ``timestamp`` defaults to now, ``value`` is the rating (1-5) or the price paid."""

    user: str
    item: str
    kind: str
    timestamp: datetime | None = None
    value: float | None = None

    def checked(self, now: datetime) -> dict:
        """The event as a table row, or an `EventError` saying what is wrong with it."""
        user, item = _identifier(self.user, "user"), _identifier(self.item, "item")
        if self.kind not in EVENT_KINDS:
            raise EventError(f"unknown event kind {self.kind!r}; use one of {', '.join(EVENT_KINDS)}")
        try:
            value = None if self.value is None or (isinstance(self.value,
                                                              float) and math.isnan(self.value)) else float(self.value)
        except (TypeError, ValueError):
            raise EventError(f"event value must be a number, not {self.value!r}") from None
        if self.kind == "rating" and (value is None or not 1 <= value <= 5):
            raise EventError(f"a rating needs a value from 1 to 5, not {self.value!r}")
        if value is not None and not math.isfinite(value):
            raise EventError(f"event value must be a finite number, not {self.value!r}")
        if self.kind == "purchase" and value is not None and value < 0:
            raise EventError(f"a purchase price cannot be negative ({value:g})")
        moment = _utc(self.timestamp or now)
        if moment > now + FUTURE_TOLERANCE:
            raise EventError(f"event timestamp {moment:%Y-%m-%d %H:%M} is in the future")
        return {"user_id": user, "item_id": item, "kind": self.kind, "value": value, "timestamp": moment}


def _store_fresh(connection, engine, start: int, end: int) -> None:
    """The new events of file lines [start, end), in file order, with the users they bring."""
    batch = FRESH.c.line.between(start, end - 1)
    new_users = sa.select(FRESH.c.user_id, sa.literal(datetime.now(UTC), sa.DateTime(timezone=True))).where(batch)
    new_users = new_users.where(~sa.exists().where(User.id == FRESH.c.user_id)).group_by(FRESH.c.user_id)
    connection.execute(_insert_ignoring_duplicates(engine, User).from_select(["id", "created_at"], new_users))
    columns = ["user_id", "item_id", "kind", "value", "timestamp"]
    in_order = sa.select(*(FRESH.c[name] for name in columns)).where(batch).order_by(FRESH.c.line)
    connection.execute(sa.insert(Event).from_select(columns, in_order))


@contextmanager
def database_errors(doing: str) -> Iterator[None]:
    """A failing database call as a `DatabaseError` saying what could not be done, not a raw SQLAlchemy error;
    also a decorator (``@database_errors("read the database")``)."""
    try:
        yield
    except SQLAlchemyError as error:
        if is_disk_full(error):
            raise DiskFullError(f"could not {doing}: the database's disk is full; nothing was changed: free some space "
                                "and try again") from None
        raise DatabaseError(f"could not {doing}: {first_line(error)}") from None


class EventStore(EventSource):
    """Users and events in a SQL database; ``EventStore.open(store)`` or ``EventStore.open(url="postgresql://...")``."""

    def __init__(self, engine: sa.Engine, token_lifetime: timedelta = TOKEN_LIFETIME):
        self.engine = engine
        self.token_lifetime = token_lifetime
        self.is_sqlite = engine.dialect.name == "sqlite"
        # SQLite: take the write lock when a write transaction starts, so writers queue instead of failing
        self.writer = engine.execution_options(write_lock=True)
        # SQLite: this process's writers queue here, so that one of them, not every one, polls for a lock that an
        # import in another process holds (SQLite's busy handler sleeps, and many sleepers miss the import's pauses)
        self.local_writers = threading.RLock() if self.is_sqlite else nullcontext()

    @classmethod
    def open(cls, store: str | Path | None = None, url: str | None = None,
             token_lifetime: timedelta = TOKEN_LIFETIME) -> EventStore:
        """Open (and create or migrate) the database: ``url``, else STORE/users.sqlite."""
        if not url:
            if store is None:
                raise EventError("give a store or a database URL")
            store = Path(store)
            if not store.is_dir():
                raise EventError(f"{store}: no such store; create it with `dressup index`")
            url = f"sqlite:///{store / DATABASE_FILE}"
        try:
            engine = create_engine(url)
            events = cls(engine, token_lifetime)
            events.migrate()
        except ImportError as error:
            raise EventError(f"cannot open the database {safe_url(url)}: {first_line(error)}") from None
        except SQLAlchemyError as error:
            if is_disk_full(error):
                raise DiskFullError(f"cannot open the database {safe_url(url)}: its disk is full; free some space and "
                                    "try again") from None
            advice = ("; if the file is damaged, restore it from a backup (it holds users, events and catalog edits)"
                      if url.startswith("sqlite") else "")
            raise DatabaseError(f"cannot open the database {safe_url(url)}: {first_line(error)}{advice}") from None
        return events

    # -- schema ------------------------------------------------------------------------------
    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision``, by default the newest migration (a no-op when it is there already)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        target = ScriptDirectory.from_config(config).get_current_head() if revision == "head" else revision
        if self.revision() == target:  # the common case: a read, no write lock
            return
        with self.write() as connection:
            if not self.is_sqlite:
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            if MigrationContext.configure(connection).get_current_revision() == target:
                return
            config.attributes["connection"] = connection
            command.upgrade(config, target)

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """One write transaction (SQLite: holding the database's write lock from its start)."""
        with self.local_writers, self.writer.begin() as connection:
            yield connection

    def revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    # -- writing -----------------------------------------------------------------------------
    def add(self, user: str, item: str, kind: str, value: float | None = None, timestamp: datetime | None = None) -> None:
        """Store one event (its user is created on first sight)."""
        self.add_many([NewEvent(user, item, kind, timestamp, value)])

    def add_many(self, events: Iterable[NewEvent]) -> int:
        """Store events in one transaction: all of them or, on any error, none. Returns how many were added."""
        now = datetime.now(UTC)
        return self._write([event.checked(now) for event in events])

    def add_chunks(self, chunks: Iterable[pd.DataFrame], source: tuple[str, str] | None = None) -> tuple[int, int, int]:
        """Store the events tables of ``chunks`` (validated: user, item, kind, value, timestamp in UTC) in one
        transaction, skipping events stored already: the k-th copy of an event in the stream is new only if fewer than k
        are stored, so re-importing a file, or a longer version of it, adds only what is new. ``source`` = (digest,
        name) logs the imported file. Returns (events streamed, events added, users with new events).

        The stream is first staged in a temporary table of this connection, without the write lock (other writers go on
        meanwhile) and without growing memory; the new events are told apart in SQL, still without the write lock, and
        stored in short write transactions (`IMPORT_BATCH` events, fewer on SQLite), so that the API's writes wait at
        most one of them. An import stopped half-way stored whole batches only: importing the file again adds the rest.
        """
        with database_errors("store the events"), self.engine.connect() as connection:
            try:
                with connection.begin():  # temporary tables only: SQLite takes no lock on the database file
                    for table in (STAGED, FRESH):  # left on this pooled connection by an import that failed, if any
                        table.drop(connection, checkfirst=True)
                        table.create(connection)
                    streamed = 0
                    for part in chunks:
                        if len(part):  # an empty parameter list would insert one row of NULLs
                            connection.execute(sa.insert(STAGED), staged_rows(part, first_line=streamed))
                            streamed += len(part)
                with self._import_lock(connection):
                    added, users = self._store_staged(connection, source)
                return streamed, added, users
            finally:
                with suppress(SQLAlchemyError), connection.begin():
                    for table in (STAGED, FRESH):
                        table.drop(connection, checkfirst=True)

    def _write(self, rows: list[dict]) -> int:
        def work(connection) -> int:
            users = sorted({row["user_id"] for row in rows})
            now = datetime.now(UTC)
            connection.execute(_insert_ignoring_duplicates(self.engine, User),
                               [{"id": user, "created_at": now} for user in users])
            connection.execute(sa.insert(Event), rows)
            return len(rows)

        return self._transaction(work) if rows else 0

    @contextmanager
    def _import_lock(self, connection):
        """One import at a time tells new events from stored ones and stores them (PostgreSQL: an advisory lock of
        this session; SQLite: a lock file beside the database)."""
        if not self.is_sqlite:
            connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _IMPORT_LOCK_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _IMPORT_LOCK_KEY})
                connection.commit()
            return
        database = self.engine.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.import-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _store_staged(self, connection, source: tuple[str, str] | None) -> tuple[int, int]:
        """Store the staged events that are new, in file order, with their new users; (events added, their users)."""
        with connection.begin():  # reads the events table and writes temporary tables only: no write lock
            connection.execute(sa.insert(FRESH).from_select([c.name for c in FRESH.columns], not_yet_stored()))
            connection.execute(sa.text(f"CREATE INDEX {FRESH.name}_line ON {FRESH.name} (line)"))
            added, users, last = connection.execute(
                sa.select(sa.func.count(), sa.func.count(FRESH.c.user_id.distinct()), sa.func.max(FRESH.c.line))).one()
        batch = SQLITE_IMPORT_BATCH if self.is_sqlite else IMPORT_BATCH
        for start in range(0, (last or 0) + 1, batch):
            self._transaction(lambda writer, start=start: _store_fresh(writer, self.engine, start, start + batch),
                              connection)
            if self.is_sqlite:  # copy the batch into the database file now, so that no API write's commit must
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")  # (SQLite checkpoints in a commit)
                connection.commit()
                time.sleep(IMPORT_PAUSE)
        if source is not None:
            def log(writer):
                if not has_import(writer, source[0]):
                    writer.execute(sa.insert(EventImport), [{"digest": source[0], "source": source[1][-1024:],
                                                             "events": added, "imported_at": datetime.now(UTC)}])
            self._transaction(log, connection)
        return added, users

    def _transaction(self, work: Callable, connection: sa.Connection | None = None):
        """``work(connection)`` in one write transaction (on ``connection`` if given), tried again from the start
        while the database is locked."""
        with database_errors("store the events"):
            for attempt in range(8):
                try:
                    if connection is None:
                        with self.write() as writer:
                            return work(writer)
                    connection.execution_options(write_lock=True)
                    try:
                        with connection.begin():
                            return work(connection)
                    finally:
                        connection.execution_options(write_lock=False)
                except OperationalError as error:
                    if "locked" not in str(error) and "deadlock" not in str(error) or attempt == 7:
                        raise
                    time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    # -- accounts ----------------------------------------------------------------------------
    def register(self, user: str | None = None) -> tuple[str, str]:
        """Create a user with a fresh access token; returns (user id, token). The token is stored only as a digest,
        so it cannot be read back. An id that already exists is refused (it would hand over that user's history)."""
        user = _identifier(user, "user") if user is not None else f"u-{secrets.token_hex(8)}"
        token = secrets.token_urlsafe(32)
        try:
            with self.write() as connection:
                if connection.execute(sa.select(User.id).where(User.id == user)).first() is not None:
                    raise UserExistsError(f"user {user!r} already exists")
                connection.execute(sa.insert(User), [{"id": user, "created_at": datetime.now(UTC), **self._token_columns(token)}])
        except IntegrityError:  # registered at the same moment by another request
            raise UserExistsError(f"user {user!r} already exists") from None
        except SQLAlchemyError as error:
            raise DatabaseError(f"could not register the user: {first_line(error)}") from None
        return user, token

    def add_for_user(self, user: str, item: str, kind: str, value: float | None = None) -> None:
        """Store one event of an existing user, never creating the user: an event racing a "forget me" must not
        bring the account back. `UnknownUserError` when the user is gone."""
        row = NewEvent(user, item, kind, None, value).checked(datetime.now(UTC))
        try:
            with self.write() as connection:
                if connection.execute(sa.select(User.id).where(User.id == row["user_id"])).first() is None:
                    raise UnknownUserError(f"unknown user {user!r}")
                connection.execute(sa.insert(Event), [row])
        except IntegrityError:  # deleted between the check and the insert (PostgreSQL): the foreign key refuses it
            raise UnknownUserError(f"unknown user {user!r}") from None
        except SQLAlchemyError as error:
            raise DatabaseError(f"could not store the event: {first_line(error)}") from None

    @database_errors("read the database")
    def user_for_token(self, token: str) -> str | None:
        """The user an access token belongs to, or None for a wrong, forged, revoked or expired token."""
        if not token or len(token) > 256:
            return None
        with self.engine.connect() as connection:
            found = connection.execute(sa.select(User.id, User.token_expires_at)
                                       .where(User.token_digest == _digest(token))).first()
        if found is None or found.token_expires_at is None:
            return None
        expires = found.token_expires_at if found.token_expires_at.tzinfo else found.token_expires_at.replace(tzinfo=UTC)
        return found.id if expires > datetime.now(UTC) else None

    def token_expiry(self, user: str) -> datetime | None:
        """When the user's current token stops working (None: no token)."""
        with database_errors("read the database"), self.engine.connect() as connection:
            expires = connection.execute(sa.select(User.token_expires_at).where(User.id == str(user))).scalar_one_or_none()
        return expires.replace(tzinfo=UTC) if expires is not None and expires.tzinfo is None else expires

    def _token_columns(self, token: str) -> dict:
        return {"token_digest": _digest(token), "token_expires_at": datetime.now(UTC) + self.token_lifetime}

    def new_token(self, user: str) -> str:
        """A fresh access token for an existing user (an imported customer, say), replacing any earlier one, which
        stops working; `UnknownUserError` for an id the database does not hold."""
        token = secrets.token_urlsafe(32)
        with database_errors("issue a token"), self.write() as connection:
            update = sa.update(User).where(User.id == str(user)).values(**self._token_columns(token))
            changed = connection.execute(update).rowcount
        if not changed:
            raise UnknownUserError(f"unknown user {user!r}")
        return token

    def forget(self, user: str) -> int:
        """Delete a user and all their events (one transaction); returns how many events went."""
        with database_errors("delete the user"), self.write() as connection:
            gone = connection.execute(sa.delete(Event).where(Event.user_id == str(user))).rowcount
            connection.execute(sa.delete(Exposure).where(Exposure.user_id == str(user)))  # what experiments showed them
            connection.execute(sa.delete(User).where(User.id == str(user)))
        return int(gone)

    @database_errors("read the database")
    def summary(self, user: str) -> dict:
        """A user's id, creation time and number of events of each kind."""
        with self.engine.connect() as connection:
            created = connection.execute(sa.select(User.created_at).where(User.id == str(user))).scalar_one_or_none()
            counts = connection.execute(
                sa.select(Event.kind, sa.func.count()).where(Event.user_id == str(user)).group_by(Event.kind)).all()
        if created is None:
            raise UnknownUserError(f"unknown user {user!r}")
        return {"user_id": str(user), "created_at": _utc(created), "events": {kind: int(n) for kind, n in counts}}

    # -- reading -----------------------------------------------------------------------------
    @database_errors("read the database")
    def events(self, user: str | None = None, latest: int | None = None, kinds: Sequence[str] | None = None,
               before: datetime | None = None, since: datetime | None = None) -> pd.DataFrame:
        """Events as a table (user, item, kind, value, timestamp in UTC), oldest first; ``since`` <= timestamp < ``before``;
        with ``latest``, only the newest that many."""
        query = _events_query()
        if user is not None:
            query = query.where(Event.user_id == str(user))
        if kinds:
            query = query.where(Event.kind.in_(list(kinds)))
        if before is not None:
            query = query.where(Event.timestamp < _utc(before))
        if since is not None:
            query = query.where(Event.timestamp >= _utc(since))
        if latest is not None:
            query = query.order_by(Event.timestamp.desc(), Event.id.desc()).limit(latest)
            with self.engine.connect() as connection:
                return _events_table(connection.execute(query).all()[::-1])
        query = query.order_by(Event.timestamp, Event.id)
        with self.engine.connect() as connection:
            return _events_table(connection.execute(query).all())

    def event_chunks(self, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """All events as tables of at most ``rows`` events (columns as `events`), read from one snapshot with a
        streaming cursor: fitting on millions of events needs memory for a chunk, not for all of them."""
        with database_errors("read the events"), self.engine.connect() as connection, connection.begin():
            result = connection.execution_options(stream_results=True, yield_per=rows).execute(_events_query().order_by(Event.id))
            for part in result.partitions():
                yield _events_table(part)

    @database_errors("read the database")
    def latest(self) -> datetime | None:
        """The time of the newest event, or None when there are none."""
        with self.engine.connect() as connection:
            moment = connection.execute(sa.select(sa.func.max(Event.timestamp))).scalar_one()
        return None if moment is None else _utc(moment)

    @database_errors("read the database")
    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(Event)).scalar_one()

    @database_errors("read the database")
    def has_user(self, user: str) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(User.id).where(User.id == str(user))).first() is not None

    @database_errors("read the database")
    def with_events(self, users: Sequence[str], chunk: int = 500) -> set[str]:
        """Which of ``users`` have at least one event: an indexed query per ``chunk`` ids."""
        ids, found = list(dict.fromkeys(str(user) for user in users)), set()
        with self.engine.connect() as connection:
            for start in range(0, len(ids), chunk):
                query = sa.select(Event.user_id).where(Event.user_id.in_(ids[start:start + chunk])).distinct()
                found.update(connection.execute(query).scalars())
        return found

    @database_errors("read the database")
    def users(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(User.id).order_by(User.id)).scalars())

    @database_errors("read the database")
    def last_change(self) -> tuple[int, int]:
        """(number of events, largest event id): changes whenever an event is added, to know when to refit."""
        with self.engine.connect() as connection:
            count, largest = connection.execute(sa.select(sa.func.count(), sa.func.max(Event.id))).one()
        return int(count), int(largest or 0)

    @database_errors("read the database")
    def user_version(self, user: str) -> int:
        """The id of ``user``'s newest event (0 for none), read from an index: it changes with every event added, and
        when the user is forgotten (events are only ever deleted with their user, and ids are never reused)."""
        with self.engine.connect() as connection:
            largest = connection.execute(sa.select(sa.func.max(Event.id)).where(Event.user_id == str(user))).scalar_one()
        return int(largest or 0)

    def close(self) -> None:
        self.engine.dispose()


def _events_query() -> sa.Select:
    return sa.select(Event.user_id.label("user"), Event.item_id.label("item"), Event.kind, Event.value, Event.timestamp)


def _events_table(rows: Sequence) -> pd.DataFrame:
    """(user, item, kind, value, timestamp) rows as a table, timestamps in UTC without a zone; built column by column,
    which is far cheaper than from row tuples."""
    users, items, kinds, values, moments = zip(*rows) if rows else ((),) * 5
    return pd.DataFrame({
        "user": pd.Series(users, dtype=object), "item": pd.Series(items, dtype=object), "kind": pd.Series(kinds, dtype=object),
        "value": pd.Series(values, dtype=float),
        "timestamp": pd.Series(pd.to_datetime(list(moments), utc=True).tz_localize(None), dtype="datetime64[ns]"),
    })


def _identifier(value, what: str) -> str:
    text = "" if value is None else str(value).strip()
    if problem := id_problem(text, what):
        raise EventError(problem)
    return text


def _utc(moment) -> datetime:
    try:
        moment = pd.Timestamp(moment)
    except (TypeError, ValueError):
        raise EventError(f"unreadable event timestamp {moment!r}") from None
    if pd.isna(moment):
        raise EventError("event without a valid timestamp")
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    return moment.to_pydatetime()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _insert_ignoring_duplicates(engine: sa.Engine, table):
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise EventError(f"unsupported database {engine.dialect.name!r}: use SQLite or PostgreSQL")
    return insert(table).on_conflict_do_nothing()
