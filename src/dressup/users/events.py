"""`EventSource`: users' events as recommenders read them; `EventTable` holds a fixed table of them in memory.

An events table has the columns user, item, kind, value and timestamp (naive UTC), oldest first. The live source
is `dressup.users.EventStore`, a database; an `EventTable` is what offline evaluation trains on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import datetime

import numpy as np
import pandas as pd

EVENT_COLUMNS = ("user", "item", "kind", "value", "timestamp")


class EventSource(ABC):
    """Where a recommender reads events: one user's as they are now, or everyone's a chunk at a time."""

    @abstractmethod
    def events(self, user: str | None = None, latest: int | None = None) -> pd.DataFrame:
        """The events (of ``user``, or all), oldest first, as a table of `EVENT_COLUMNS`; with ``latest``, only the
        newest that many (what a feed reads, so that a user with a huge history costs no more than anyone)."""

    @abstractmethod
    def event_chunks(self, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        """Every event once, as tables of at most ``rows`` events."""

    @abstractmethod
    def latest(self) -> datetime | pd.Timestamp | None:
        """The time of the newest event; None when there are none."""

    @abstractmethod
    def last_change(self) -> tuple:
        """A value that changes whenever the events change (a recommender refits when it does)."""

    @abstractmethod
    def with_events(self, users: Sequence[str]) -> set[str]:
        """Which of ``users`` have at least one event."""

    def user_version(self, user: str):
        """A value that changes whenever ``user``'s events do, read far more cheaply than the events (a recommender
        keeps what it derived from them until it changes); None: no such value, read the events every time."""
        return None

    def close(self) -> None:  # noqa: B027 - most sources hold nothing open
        """Let go of what the source holds open (a database connection)."""


class EventTable(EventSource):
    """A fixed events table in memory: ``EventTable(read_events("transactions.csv")[0])``."""

    def __init__(self, table: pd.DataFrame):
        missing = [c for c in EVENT_COLUMNS if c not in table.columns]
        if missing:
            raise ValueError(f"an events table needs the columns {', '.join(EVENT_COLUMNS)}; it lacks {', '.join(missing)}")
        table = table[list(EVENT_COLUMNS)].reset_index(drop=True)
        if getattr(table["timestamp"].dtype, "tz", None) is not None:  # naive UTC, as the database returns
            table = table.assign(timestamp=table["timestamp"].dt.tz_convert(None))
        self.table = table.iloc[np.argsort(table["timestamp"].to_numpy(), kind="stable")].reset_index(drop=True)
        self._by_user = self.table.groupby("user", sort=False).indices

    def __len__(self) -> int:
        return len(self.table)

    def events(self, user: str | None = None, latest: int | None = None) -> pd.DataFrame:
        table = self.table if user is None else self.table.iloc[self._by_user.get(str(user), np.empty(0, np.int64))]
        return table if latest is None else table.iloc[max(0, len(table) - latest):]

    def event_chunks(self, rows: int = 100_000) -> Iterator[pd.DataFrame]:
        for start in range(0, len(self.table), rows):
            yield self.table.iloc[start : start + rows]

    def latest(self) -> pd.Timestamp | None:
        return self.table["timestamp"].max() if len(self.table) else None

    def last_change(self) -> tuple:
        return (len(self.table),)  # never changes

    def user_version(self, user: str) -> tuple:
        return (len(self.table),)  # never changes

    def with_events(self, users: Sequence[str]) -> set[str]:
        return {str(user) for user in users if str(user) in self._by_user}
