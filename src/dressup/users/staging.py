"""The staging tables an import streams its events into, and the SQL that tells new events from stored ones."""

from __future__ import annotations

import math

import pandas as pd
import sqlalchemy as sa

from ..catalog import MAX_ID_LENGTH
from .schema import Event, EventImport

TEMPORARY = sa.MetaData()


def temporary_events(name: str) -> sa.Table:
    return sa.Table(name, TEMPORARY, sa.Column("line", sa.Integer), sa.Column("user_id", sa.String(MAX_ID_LENGTH)),
                    sa.Column("item_id", sa.String(MAX_ID_LENGTH)), sa.Column("kind", sa.String(16)),
                    sa.Column("value", sa.Float),
                    sa.Column("timestamp", sa.DateTime(timezone=True)), prefixes=["TEMPORARY"])


STAGED = temporary_events("import_staged")  # an import's events, in file order (``line``)
FRESH = temporary_events("import_fresh")    # those of them that are not stored yet


def staged_rows(table: pd.DataFrame, first_line: int) -> list[dict]:
    values = [None if math.isnan(v) else v for v in table["value"].astype(float).tolist()]
    moments = table["timestamp"].dt.to_pydatetime().tolist()
    return [{"line": first_line + n, "user_id": u, "item_id": i, "kind": k, "value": v, "timestamp": t}
            for n, (u, i, k, v,
                    t) in enumerate(zip(table["user"].tolist(), table["item"].tolist(), table["kind"].tolist(), values, moments))]


def not_yet_stored() -> sa.Select:
    """The staged events that are not stored yet: the k-th copy of an event is new if fewer than k copies are stored."""
    staged = STAGED.c
    copy = sa.func.row_number().over(partition_by=[staged.user_id, staged.item_id, staged.kind, staged.timestamp, staged.value],
                                     order_by=staged.line)
    ranked = sa.select(*STAGED.columns, copy.label("copy")).subquery()
    stored = sa.select(sa.func.count()).where(
        Event.user_id == ranked.c.user_id, Event.timestamp == ranked.c.timestamp, Event.item_id == ranked.c.item_id,
        Event.kind == ranked.c.kind, Event.value.is_not_distinct_from(ranked.c.value)).scalar_subquery()
    return sa.select(*(ranked.c[c.name] for c in STAGED.columns)).where(ranked.c.copy > stored)


def has_import(connection, digest: str) -> bool:
    return connection.execute(sa.select(EventImport.digest).where(EventImport.digest == digest)).first() is not None
