"""Import users' events from a table: H&M transactions or a generic ``user, item, event, timestamp[, value]`` CSV.

Rows that cannot be events (no user, unparseable date, unknown event kind, rating outside 1-5) and events on
items the store does not hold are counted, reported and skipped; the rest is stored in one transaction.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import first_line
from .database import FUTURE_TOLERANCE, MAX_ID_LENGTH, EventError, EventStore
from .schema import EVENT_KINDS

HM_COLUMNS = ("t_dat", "customer_id", "article_id", "price")
GENERIC_COLUMNS = ("user", "item", "event", "timestamp")
EVENT_NAMES = {
    **{kind: kind for kind in EVENT_KINDS},
    "click": "view", "viewed": "view", "liked": "like", "favourite": "like", "favorite": "like", "wishlist": "like",
    "disliked": "dislike", "rate": "rating", "rated": "rating", "add_to_cart": "cart", "addtocart": "cart",
    "add-to-cart": "cart", "basket": "cart", "buy": "purchase", "bought": "purchase", "order": "purchase",
    "transaction": "purchase", "sale": "purchase",
}
EXAMPLES = 5


@dataclass
class ImportReport:
    """What an import did: rows read, events stored, and what was skipped and why."""

    source: str
    layout: str
    rows: int = 0
    added: int = 0
    users: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> rows
    examples: dict[str, list[str]] = field(default_factory=dict)  # reason -> a few row numbers / values
    unknown_items: int = 0
    unknown_item_examples: list[str] = field(default_factory=list)
    already_stored: int = 0  # events of the file the database holds already (an earlier import)


def read_events(path: str | Path) -> tuple[pd.DataFrame, ImportReport]:
    """The valid events of a table (user, item, kind, value, timestamp) and a report of its bad rows."""
    path = Path(path)
    raw = _read_table(path)
    columns = {c.strip().lower(): c for c in raw.columns}
    if all(c in columns for c in HM_COLUMNS):
        layout = "hm"
        table = pd.DataFrame({"user": raw[columns["customer_id"]], "item": raw[columns["article_id"]], "kind": "purchase",
                              "value": raw[columns["price"]], "timestamp": raw[columns["t_dat"]]})
    elif all(c in columns for c in GENERIC_COLUMNS):
        layout = "generic"
        value = raw[columns["value"]] if "value" in columns else pd.Series(None, index=raw.index, dtype=object)
        table = pd.DataFrame({"user": raw[columns["user"]], "item": raw[columns["item"]],
                              "kind": raw[columns["event"]], "value": value, "timestamp": raw[columns["timestamp"]]})
    else:
        raise EventError(
            f"{path}: not an events table; expected H&M transactions ({', '.join(HM_COLUMNS)}) or "
            f"{', '.join(GENERIC_COLUMNS)}[, value]; found columns {', '.join(map(str, raw.columns[:12]))}")
    report = ImportReport(str(path), layout, rows=len(table))
    return _valid(table, report), report


def import_events(store: str | Path, path: str | Path, events: EventStore | None = None,
                  progress: Callable[[str, int, int], None] | None = None) -> ImportReport:
    """Read ``path`` and store its valid events on items of ``store``, all in one transaction;
    ``progress(step, done, total)`` follows the long steps.

    Importing is idempotent: events already stored (same user, item, kind, time and value, counted with
    their multiplicity) are skipped, so re-importing a file, or a longer version of it, adds only what is new.
    """
    from ..store import Store

    catalog = Store.open(store)
    table, report = read_events(path)
    known = catalog.rows_of(table["item"].to_numpy()) >= 0
    unknown = table.loc[~known, "item"]
    report.unknown_items = len(unknown)
    report.unknown_item_examples = list(dict.fromkeys(unknown))[:EXAMPLES]
    table = table[known].reset_index(drop=True)
    events = events or EventStore.open(store)
    if len(table):
        new = _not_yet_stored(table, events)
        report.already_stored = int((~new).sum())
        table = table[new]
    written = (lambda done: progress("storing events", done, len(table))) if progress else None
    report.added = events.add_table(table, source=(_digest(path), str(Path(path).resolve())), progress=written)
    report.users = int(table["user"].nunique())
    return report


def _not_yet_stored(table: pd.DataFrame, events: EventStore) -> np.ndarray:
    """Which rows of ``table`` are not in the database yet (the k-th copy of an event is new if fewer than k are stored)."""
    stored = events.events(since=table["timestamp"].min(), before=table["timestamp"].max() + pd.Timedelta(microseconds=1))
    if stored.empty:
        return np.ones(len(table), bool)
    naive = table.assign(timestamp=table["timestamp"].dt.tz_convert(None))
    key = ["user", "item", "kind", "timestamp", "value"]
    stored_counts = stored.fillna({"value": -np.inf}).groupby(key).size().rename("stored")
    rows = naive.fillna({"value": -np.inf})
    occurrence = rows.groupby(key).cumcount()
    already = rows.join(stored_counts, on=key)["stored"].fillna(0).to_numpy()
    return occurrence.to_numpy() >= already


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise EventError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8", on_bad_lines="error")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise EventError(f"{path}: not a readable CSV table ({first_line(error)})") from None
    if raw.empty:
        raise EventError(f"{path}: the table has no rows")
    return raw


def _valid(table: pd.DataFrame, report: ImportReport) -> pd.DataFrame:
    """Keep the rows that make events; count the others by reason."""
    line = pd.Series(np.arange(len(table)) + 2, index=table.index)  # the file's line number (header = line 1)
    table = table.assign(user=table["user"].str.strip(), item=table["item"].str.strip())
    kind = table["kind"].fillna("").str.strip().str.lower().map(EVENT_NAMES)
    timestamp = pd.to_datetime(table["timestamp"], errors="coerce", utc=True, format="mixed")
    value = pd.to_numeric(table["value"], errors="coerce")
    bad_value = (table["value"].notna() & value.isna()) | np.isinf(value.fillna(0))
    future = timestamp > pd.Timestamp.now(tz="UTC") + FUTURE_TOLERANCE
    problems = [
        ("no user id", table["user"].isna() | (table["user"] == "")),
        ("no item id", table["item"].isna() | (table["item"] == "")),
        ("unknown event kind", kind.isna()),
        ("unreadable timestamp", timestamp.isna()),
        ("timestamp in the future", future),
        ("value is not a number", bad_value),
        ("rating not within 1-5", (kind == "rating") & ~value.between(1, 5)),
        (f"id longer than {MAX_ID_LENGTH} characters", (table["user"].str.len() > MAX_ID_LENGTH) | (table["item"].str.len() > MAX_ID_LENGTH)),
    ]
    bad = pd.Series(False, index=table.index)
    for reason, rows in problems:
        rows = rows.fillna(False).astype(bool) & ~bad
        if rows.any():
            report.skipped[reason] = int(rows.sum())
            report.examples[reason] = [f"line {n}" for n in line[rows].head(EXAMPLES)]
        bad |= rows
    keep = ~bad
    return pd.DataFrame({"user": table["user"][keep], "item": table["item"][keep], "kind": kind[keep],
                         "value": value[keep], "timestamp": timestamp[keep]}).reset_index(drop=True)


def _digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
