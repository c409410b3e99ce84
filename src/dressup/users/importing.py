"""Import users' events from a table: H&M transactions or a generic ``user, item, event, timestamp[, value]`` CSV.

Rows that cannot be events (no user, unparseable date, unknown event kind, rating outside 1-5) and events on
items the store does not hold are counted, reported and skipped; the rest is stored in one transaction. The file
is read in chunks, so a file of tens of millions of rows needs no more memory than a small one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import CONTROL_CHARACTERS, MAX_ID_LENGTH
from ..errors import first_line
from ..progress import SILENT, Progress
from .database import FUTURE_TOLERANCE, EventError, EventStore
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
UNREADABLE_TIMESTAMP = "unreadable timestamp (use ISO 8601: 2020-06-01, 2020-06-01 14:30 or 2020-06-01T14:30:00+02:00)"
EXAMPLES = 5
CHUNK_ROWS = 100_000  # rows of the file read, validated and staged at a time
_CSV_ERRORS = (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError)  # not a readable CSV


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
    report = ImportReport(str(path), _layout(path))
    parts = list(_read_chunks(path, report))
    return pd.concat(parts, ignore_index=True), report


def import_events(store: str | Path, path: str | Path, events: EventStore | None = None,
                  progress: Progress = SILENT, chunk_rows: int = CHUNK_ROWS) -> ImportReport:
    """Read ``path`` and store its valid events on items of ``store``, all in one transaction;
    ``progress`` follows the steps "reading events" (bytes of the file) and "storing events".

    The file is read ``chunk_rows`` rows at a time, so memory stays flat however long it is. Importing is
    idempotent: events already stored (same user, item, kind, time and value, counted with their multiplicity)
    are skipped, so re-importing a file, or a longer version of it, adds only what is new.
    """
    from ..store.journal import current_item_ids

    path = Path(path)
    url = events.engine.url.render_as_string(hide_password=False) if events is not None else None
    catalog = current_item_ids(Path(store), url)  # the ids alone: no vectors, no index
    layout = _layout(path)  # a file that is not an events table fails here, before the database is touched
    opened = events is None
    events = events or EventStore.open(store)
    report = ImportReport(str(path), layout)

    def known_items():
        for table in _read_chunks(path, report, chunk_rows, progress):
            known = catalog.get_indexer(pd.Index(table["item"].to_numpy(), dtype=object)) >= 0
            report.unknown_items += int((~known).sum())
            unknown = dict.fromkeys([*report.unknown_item_examples, *table.loc[~known, "item"].drop_duplicates().head(EXAMPLES)])
            report.unknown_item_examples = list(unknown)[:EXAMPLES]
            yield table[known]
        progress.update("storing events", 0, 1)

    try:
        streamed, report.added, report.users = events.add_chunks(known_items(), source=(_digest(path), str(path.resolve())))
    finally:
        if opened:
            events.close()
    progress.update("storing events", 1, 1)
    report.already_stored = streamed - report.added
    return report


def _layout(path: Path) -> str:
    """"hm" or "generic", from the table's header; an `EventError` for anything else."""
    if path.is_dir():
        raise EventError(f"{path}: is a folder, not an events table")
    if not path.is_file():
        raise EventError(f"{path}: no such file")
    try:
        header = pd.read_csv(path, dtype=str, nrows=0, encoding="utf-8")
    except _CSV_ERRORS as error:
        raise EventError(f"{path}: not a readable CSV table ({first_line(error)})") from None
    columns = {str(c).strip().lower() for c in header.columns}
    if all(c in columns for c in HM_COLUMNS):
        return "hm"
    if all(c in columns for c in GENERIC_COLUMNS):
        return "generic"
    raise EventError(
        f"{path}: not an events table; expected H&M transactions ({', '.join(HM_COLUMNS)}) or "
        f"{', '.join(GENERIC_COLUMNS)}[, value]; found columns {', '.join(map(str, header.columns[:12]))}")


def _read_chunks(path: Path, report: ImportReport, rows: int = CHUNK_ROWS, progress: Progress = SILENT) -> Iterator[pd.DataFrame]:
    """The table's valid events, ``rows`` rows of the file at a time; bad rows are counted in ``report``."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        for raw in _csv_chunks(path, handle, rows):
            yield _valid(_as_events(raw, report.layout), report, first_line=report.rows + 2)
            report.rows += len(raw)
            progress.update("reading events", handle.tell(), size)
    if report.rows == 0:
        raise EventError(f"{path}: the table has no rows")


def _csv_chunks(path: Path, handle, rows: int) -> Iterator[pd.DataFrame]:
    """The file's rows as text, ``rows`` at a time; an `EventError` where it stops being a readable CSV table."""
    try:
        yield from pd.read_csv(handle, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8",
                               on_bad_lines="error", chunksize=rows)
    except UnicodeDecodeError:
        raise EventError(f"{path}: line {_first_undecodable_line(path)} is not UTF-8 text; save the file as UTF-8") from None
    except _CSV_ERRORS as error:
        raise EventError(f"{path}: not a readable CSV table ({first_line(error)})") from None


def _first_undecodable_line(path: Path) -> int:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def _as_events(raw: pd.DataFrame, layout: str) -> pd.DataFrame:
    columns = {c.strip().lower(): c for c in raw.columns}
    if layout == "hm":
        return pd.DataFrame({"user": raw[columns["customer_id"]], "item": raw[columns["article_id"]], "kind": "purchase",
                             "value": raw[columns["price"]], "timestamp": raw[columns["t_dat"]]})
    value = raw[columns["value"]] if "value" in columns else pd.Series(None, index=raw.index, dtype=object)
    return pd.DataFrame({"user": raw[columns["user"]], "item": raw[columns["item"]], "kind": raw[columns["event"]],
                         "value": value, "timestamp": raw[columns["timestamp"]]})


def _valid(table: pd.DataFrame, report: ImportReport, first_line: int = 2) -> pd.DataFrame:
    """Keep the rows that make events; count the others by reason (adding to ``report``)."""
    line = pd.Series(np.arange(len(table)) + first_line, index=table.index)  # the file's line number (header = line 1)
    table = table.assign(user=table["user"].str.strip(), item=table["item"].str.strip())
    kind = table["kind"].fillna("").str.strip().str.lower().map(EVENT_NAMES)
    # ISO 8601 only: a guess per row would read 01/03 as 3 January in one row and 13/03 as 13 March in the next
    timestamp = pd.to_datetime(table["timestamp"], errors="coerce", utc=True, format="ISO8601")
    value = pd.to_numeric(table["value"], errors="coerce")
    bad_value = (table["value"].notna() & value.isna()) | np.isinf(value.fillna(0))
    future = timestamp > pd.Timestamp.now(tz="UTC") + FUTURE_TOLERANCE
    problems = [
        ("no user id", table["user"].isna() | (table["user"] == "")),
        ("no item id", table["item"].isna() | (table["item"] == "")),
        ("id with a control character",
         table["user"].str.contains(CONTROL_CHARACTERS) | table["item"].str.contains(CONTROL_CHARACTERS)),
        ("unknown event kind", kind.isna()),
        (UNREADABLE_TIMESTAMP, timestamp.isna()),
        ("timestamp in the future", future),
        ("value is not a number", bad_value),
        ("rating without a value", (kind == "rating") & table["value"].isna()),
        ("rating not within 1-5", (kind == "rating") & ~value.between(1, 5)),
        ("negative purchase price", (kind == "purchase") & (value < 0)),
        (f"id longer than {MAX_ID_LENGTH} characters",
         (table["user"].str.len() > MAX_ID_LENGTH) | (table["item"].str.len() > MAX_ID_LENGTH)),
    ]
    bad = pd.Series(False, index=table.index)
    for reason, rows in problems:
        rows = rows.fillna(False).astype(bool) & ~bad
        if rows.any():
            report.skipped[reason] += int(rows.sum())
            examples = report.examples.setdefault(reason, [])
            examples += [f"line {n}" for n in line[rows].head(EXAMPLES - len(examples))]
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
