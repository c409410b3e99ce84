"""The catalog journal: every acknowledged change to a store's catalog, in the shop's database.

A store is an immutable base generation plus the changes made since (`dressup.store.live`): items put (added or
changed, with their whole record and, when the photo changed, its embedding) or removed. The changes live in the
``catalog_changes`` table of the database that holds the shop's users and events (``STORE/users.sqlite`` by default,
PostgreSQL when configured), one row each, numbered in the order they were made. A change is acknowledged when its
transaction commits, so a crash never loses one; writers take the database's write lock (SQLite) or an advisory lock
(PostgreSQL) for the few milliseconds of a write, so they never interleave.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..catalog import plain_value
from ..users.database import DATABASE_FILE, EventStore, database_errors
from ..users.schema import CatalogChange

PUT, REMOVE = "put", "remove"


@dataclass(frozen=True)
class Change:
    """One change to the catalog: ``record`` is the item's whole row after a put; ``embedding`` its new photo's."""

    seq: int
    item_id: str
    operation: str
    record: dict | None = None
    embedding: np.ndarray | None = None


class Journal:
    """The changes of one store (named by its manifest's ``store_id``) in the shop database."""

    def __init__(self, database: EventStore, store_id: str):
        self.database = database
        self.store_id = store_id
        self._lock_key = zlib.crc32(store_id.encode()) & 0x7FFFFFFF

    @classmethod
    def open(cls, store_path: str | Path, store_id: str, url: str | None = None, create: bool = False) -> Journal | None:
        """The store's journal; None when there is no database yet and ``create`` is not asked (a read-only look)."""
        if url is None and not create and not (Path(store_path) / DATABASE_FILE).is_file():
            return None
        return cls(EventStore.open(store_path, url), store_id)

    def close(self) -> None:
        self.database.close()

    @database_errors("read the catalog journal")
    def latest(self) -> int:
        """The number of the newest change (0 when there is none)."""
        with self.database.engine.connect() as connection:
            return _latest(connection, self.store_id)

    @database_errors("read the catalog journal")
    def changes_after(self, seq: int) -> list[Change]:
        with self.database.engine.connect() as connection:
            return _changes_after(connection, self.store_id, seq)

    @contextmanager
    def writing(self) -> Iterator[JournalWriter]:
        """One write transaction, alone for this store: read what other writers added, then append; all of it is
        committed when the block ends, or none of it on an error."""
        with database_errors("write the catalog journal"), self.database.write() as connection:
            if not self.database.is_sqlite:  # SQLite: BEGIN IMMEDIATE already holds the write lock
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._lock_key})
            yield JournalWriter(connection, self.store_id)

    @database_errors("prune the catalog journal")
    def prune(self, up_to: int) -> int:
        """Delete the changes up to ``up_to`` (folded into a base generation); returns how many went."""
        with self.database.write() as connection:
            deleted = connection.execute(sa.delete(CatalogChange).where(
                CatalogChange.store == self.store_id, CatalogChange.seq <= up_to))
        return int(deleted.rowcount)


class JournalWriter:
    """Inside `Journal.writing`: the changes other writers made meanwhile, and new ones."""

    def __init__(self, connection: sa.Connection, store_id: str):
        self.connection, self.store_id = connection, store_id

    def changes_after(self, seq: int) -> list[Change]:
        return _changes_after(self.connection, self.store_id, seq)

    def append(self, changes: Sequence[tuple[str, str, dict | None, np.ndarray | None]]) -> list[int]:
        """Append (item id, operation, record, embedding) changes in order; returns their numbers."""
        now = datetime.now(UTC)
        numbers = []
        for item_id, operation, record, embedding in changes:
            result = self.connection.execute(sa.insert(CatalogChange).values(
                store=self.store_id, item_id=item_id, operation=operation, created_at=now,
                record=None if record is None else json.dumps({k: plain_value(v) for k, v in record.items()}, allow_nan=False),
                embedding=None if embedding is None else np.asarray(embedding, np.float16).tobytes()))
            numbers.append(int(result.inserted_primary_key[0]))
        return numbers


def _latest(connection: sa.Connection, store_id: str) -> int:
    latest = connection.execute(sa.select(sa.func.max(CatalogChange.seq)).where(CatalogChange.store == store_id)).scalar_one()
    return int(latest or 0)


def _changes_after(connection: sa.Connection, store_id: str, seq: int) -> list[Change]:
    table = CatalogChange
    rows = connection.execute(
        sa.select(table.seq, table.item_id, table.operation, table.record, table.embedding)
        .where(table.store == store_id, table.seq > seq).order_by(table.seq)).all()
    return [Change(int(number), item_id, operation, json.loads(record) if record is not None else None,
                   np.frombuffer(embedding, np.float16) if embedding is not None else None)
            for number, item_id, operation, record, embedding in rows]


def current_item_ids(store_path: str | Path, database_url: str | None = None) -> pd.Index:
    """The ids of the items a store holds now (its base generation's, with the journal's changes), read without
    opening the store's vectors."""
    from .generations import read_item_ids, read_manifest, store_id

    manifest = read_manifest(Path(store_path))
    ids = set(read_item_ids(Path(store_path)))
    journal = Journal.open(store_path, store_id(manifest), database_url)
    if journal is not None:
        try:
            for change in journal.changes_after(manifest.get("journal_seq", 0)):
                (ids.discard if change.operation == REMOVE else ids.add)(change.item_id)
        finally:
            journal.close()
    return pd.Index(sorted(ids), dtype=object)
