"""A store's settings (business rules, experiments) and its experiments' exposures, in the shop's database.

Settings live beside the users, events and catalog journal, so that every server worker (and, with PostgreSQL,
every node) serves the same ones: a change is one committed row, and servers notice it by reading the settings'
version numbers, one small query at most every second.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa

from .database import EventStore, database_errors
from .schema import EXPOSURE_KINDS, Event, Exposure, StoreSetting


class StoreSettings:
    """The named JSON settings of one store (by its manifest's ``store_id``)."""

    def __init__(self, database: EventStore, store_id: str):
        self.database = database
        self.store_id = store_id
        self._lock_key = zlib.crc32(f"settings:{store_id}".encode()) & 0x7FFFFFFF

    @database_errors("read the store's settings")
    def versions(self) -> dict[str, int]:
        """Each setting's version (it grows at every change)."""
        with self.database.engine.connect() as connection:
            rows = connection.execute(sa.select(StoreSetting.name, StoreSetting.version)
                                      .where(StoreSetting.store == self.store_id)).all()
        return {name: int(version) for name, version in rows}

    @database_errors("read the store's settings")
    def get(self, name: str) -> dict | None:
        with self.database.engine.connect() as connection:
            value = connection.execute(sa.select(StoreSetting.value).where(
                StoreSetting.store == self.store_id, StoreSetting.name == name)).scalar_one_or_none()
        return None if value is None else json.loads(value)

    def put(self, name: str, value: dict) -> int:
        """Store a setting (one transaction); returns its new version."""
        text = json.dumps(value, allow_nan=False)
        with database_errors("store the store's settings"), self.database.write() as connection:
            if not self.database.is_sqlite:  # two admins saving at once: one after the other
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._lock_key})
            where = (StoreSetting.store == self.store_id, StoreSetting.name == name)
            version = connection.execute(sa.select(StoreSetting.version).where(*where)).scalar_one_or_none()
            now = datetime.now(UTC)
            if version is None:
                connection.execute(sa.insert(StoreSetting).values(store=self.store_id, name=name, value=text, version=1,
                                                                  updated_at=now))
                return 1
            connection.execute(sa.update(StoreSetting).where(*where).values(value=text, version=version + 1, updated_at=now))
            return version + 1


def record_exposures(database: EventStore, experiment: str, variant: str, user: str, items: Sequence[str], kind: str,
                     surface: str) -> None:
    """What a variant showed a user (``impression``, one row per item) or what they clicked (``click``)."""
    if kind not in EXPOSURE_KINDS:
        raise ValueError(f"an exposure is one of {', '.join(EXPOSURE_KINDS)}, not {kind!r}")
    if not items:
        return
    now = datetime.now(UTC)
    rows = [{"experiment": experiment, "variant": variant, "user_id": user, "item_id": str(item), "kind": kind,
             "surface": surface, "created_at": now} for item in items]
    database._transaction(lambda connection: connection.execute(sa.insert(Exposure), rows))


@database_errors("read the experiment's exposures")
def exposures(database: EventStore, experiment: str) -> pd.DataFrame:
    """An experiment's impressions and clicks: columns user, variant, item, kind, surface, timestamp."""
    query = (sa.select(Exposure.user_id, Exposure.variant, Exposure.item_id, Exposure.kind, Exposure.surface,
                       Exposure.created_at).where(Exposure.experiment == experiment).order_by(Exposure.id))
    with database.engine.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(rows, columns=["user", "variant", "item", "kind", "surface", "timestamp"])


@database_errors("read the exposed users' events")
def later_events(database: EventStore, experiment: str, kinds: Sequence[str]) -> pd.DataFrame:
    """The events of ``kinds`` (cart, purchase) that users exposed to an experiment made after their first exposure:
    columns user, item, kind, timestamp."""
    first = (sa.select(Exposure.user_id, sa.func.min(Exposure.created_at).label("since"))
             .where(Exposure.experiment == experiment).group_by(Exposure.user_id).subquery())
    query = (sa.select(Event.user_id, Event.item_id, Event.kind, Event.timestamp)
             .join(first, first.c.user_id == Event.user_id)
             .where(Event.kind.in_(list(kinds)), Event.timestamp >= first.c.since))
    with database.engine.connect() as connection:
        rows = connection.execute(query).all()
    return pd.DataFrame(rows, columns=["user", "item", "kind", "timestamp"])
