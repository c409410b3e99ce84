"""A store's catalog as it is now: its immutable base generation with the journal's changes applied on top.

Rows are positions: the base generation's rows first, then one row for each vector added since (a new item, or an
item whose photo changed, whose old row is then removed). A `LiveState` is a snapshot: applying changes makes a new
one, sharing the base and copying only what changed, so a request that took one state reads it throughout while the
next request sees the next state. What a state derives (columns, filter codes, the whole item table) is computed on
first use and kept with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import Item, split_sizes
from ..encoders.text_tower import item_descriptions
from ..errors import DressUpError
from .filters import FilterError, FilterIndex, Filters, column_named
from .journal import PUT, REMOVE, Change
from .keywords import FOLDER as KEYWORDS_FOLDER
from .keywords import KeywordIndex
from .table import ARROW_FILE as ITEMS_FILE
from .table import ItemTable
from .validation import damaged, read_checked
from .vectors import IndexConfig, Projection, VectorIndex, load_index

CHANGED_KEYWORDS_SAMPLE = 2_000  # base texts indexed beside the changed rows' ones


class UnknownItemError(DressUpError, KeyError):
    """An item id that the store does not hold."""

    def __str__(self) -> str:
        return self.args[0]


def unknown(item_id) -> UnknownItemError:
    return UnknownItemError(f"unknown item id {item_id!r}: the store has no such item")


class Base:
    """One base generation, read once: its items, the index over their vectors, the projection and raw embeddings."""

    def __init__(self, folder: Path, table: ItemTable, index: VectorIndex, projection: Projection | None):
        self.folder = folder
        self.table = table
        self.index = index
        self.projection = projection
        self.filters = FilterIndex(table.table)
        self._columns: dict[str, np.ndarray] = {}
        self._keywords: KeywordIndex | None = None
        self._keywords_made = threading.Lock()

    @classmethod
    def open(cls, folder: Path, index_config: IndexConfig) -> Base:
        """A `DamagedStoreError` naming the file for any file that cannot be read or does not fit the others."""
        store = folder.parent
        table = read_checked(folder / ITEMS_FILE, lambda: ItemTable.open(folder), store)
        index = read_checked(folder / "index.faiss", lambda: load_index(folder / "index.faiss", index_config), store)
        projection = None
        if (folder / "projection.npz").is_file():
            projection = read_checked(folder / "projection.npz", lambda: Projection.load(folder / "projection.npz"), store)
        if len(index) != len(table):
            raise damaged(folder / "index.faiss", f"holds {len(index):,} vectors for {len(table):,} items", store)
        return cls(folder, table, index, projection)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def columns(self) -> list[str]:
        return self.table.columns

    @property
    def items(self) -> pd.DataFrame:
        """The base's item table as a DataFrame (made on first use, for offline work)."""
        return self.table.frame()

    def rows_of(self, keys: Iterable) -> np.ndarray:
        return self.table.rows_of(keys)

    def ids_at(self, rows: np.ndarray) -> np.ndarray:
        return self.table.ids_at(rows)

    def embeddings(self) -> np.ndarray:
        """The encoder's embeddings of the base rows (memory-mapped, float16)."""
        return np.load(self.folder / "embeddings.npy", mmap_mode="r")

    def column(self, name: str) -> np.ndarray:
        if name not in self._columns:
            values = self.table.column(name)
            values.flags.writeable = False
            self._columns[name] = values
        return self._columns[name]

    @property
    def keywords(self) -> KeywordIndex:
        """The keyword index of the base rows: the generation's, or made from its items for a store written before
        keyword search (kept in memory)."""
        with self._keywords_made:
            if self._keywords is None:
                folder = self.folder / KEYWORDS_FOLDER
                if folder.is_dir():
                    self._keywords = read_checked(folder, lambda: KeywordIndex.load(folder, len(self)), self.folder.parent)
                else:
                    self._keywords = KeywordIndex.build(item_descriptions(self.items))
            return self._keywords

    def searched(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings turned into the vectors the index searches (unit length, projected when the base is)."""
        from ..embeddings import normalize_rows

        vectors = normalize_rows(np.asarray(embeddings, np.float32))
        return self.projection.apply(vectors) if self.projection is not None else vectors


class LiveState:
    """The catalog after the journal's changes up to ``seq``: which item sits on which row, the records that differ
    from the base's, and the vector index with the added and removed rows."""

    def __init__(self, base: Base, seq: int, index: VectorIndex, fresh_ids: np.ndarray, records: dict[int, dict],
                 moved: dict[str, int], fresh_embeddings: np.ndarray):
        self.base = base
        self.seq = seq
        self.index = index
        self.fresh_ids = fresh_ids  # ids of the rows after the base's
        self.records = records  # row -> the item's whole record, for every row whose item is not the base's (every added row)
        self.moved = moved  # id -> row for items not (or no longer) on their base row; -1 for a removed item
        self.fresh_embeddings = fresh_embeddings  # raw embeddings of the rows after the base's (float16)
        self._derived: dict = {}
        self._lock = threading.RLock()  # a derived value may derive from another

    @classmethod
    def of(cls, base: Base, seq: int) -> LiveState:
        dimension = base.embeddings().shape[1]
        return cls(base, seq, base.index, np.empty(0, object), {}, {}, np.zeros((0, dimension), np.float16))

    def derived(self, key, make: Callable):
        """A value derived from this state, computed once (by ``make``) and kept with it."""
        if key not in self._derived:
            with self._lock:
                if key not in self._derived:
                    self._derived[key] = make()
        return self._derived[key]

    def embeddings(self) -> np.ndarray:
        """The encoder's embeddings of every row (float16; memory-mapped while no row was added)."""
        base = self.base.embeddings()
        return base if not len(self.fresh_embeddings) else np.concatenate([np.asarray(base), self.fresh_embeddings])

    # -- rows and items ------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return len(self.base) + len(self.fresh_ids)

    @property
    def alive(self) -> np.ndarray:
        """Rows that hold an item (not removed, not replaced by a newer photo's row)."""
        removed = self.index.removed
        return np.ones(self.rows, bool) if removed is None else ~removed

    def __len__(self) -> int:
        """Items the catalog holds."""
        return self.derived("count", lambda: int(self.alive.sum()))

    def row(self, item_id: str) -> int:
        row = self.rows_of([item_id])[0]
        if row < 0:
            raise unknown(item_id)
        return int(row)

    def rows_of(self, item_ids: Iterable) -> np.ndarray:
        """Rows of many ids at once; -1 for ids the store does not hold."""
        keys = [str(key) for key in item_ids]
        rows = self.base.rows_of(keys)
        if self.moved:
            for position, key in enumerate(keys):
                if key in self.moved:
                    rows[position] = self.moved[key]
        removed = self.index.removed
        if removed is not None:
            rows[(rows >= 0) & removed[np.maximum(rows, 0)]] = -1
        return rows

    def __contains__(self, item_id) -> bool:
        return bool(self.rows_of([item_id])[0] >= 0)

    def ids_of(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, np.int64)
        out = np.empty(len(rows), object)
        in_base = rows < len(self.base)
        out[in_base] = self.base.ids_at(rows[in_base])
        out[~in_base] = self.fresh_ids[rows[~in_base] - len(self.base)]
        return out

    @property
    def ids(self) -> np.ndarray:
        """Every row's item id (read-only)."""
        def make():
            ids = np.concatenate([self.base.column("id"), self.fresh_ids])
            ids.flags.writeable = False
            return ids
        return self.derived("ids", make)

    def record(self, row: int) -> dict:
        """The whole record of the item on ``row``."""
        if row in self.records:
            return self.records[row]
        return self.base.table.record(row)

    def item(self, item_id: str) -> Item:
        return Item.from_row(self.record(self.row(item_id)))

    def item_at(self, row: int) -> Item:
        return Item.from_row(self.record(int(row)))

    @property
    def columns(self) -> list[str]:
        """Every column of the catalog: the base's, and those changes brought in."""
        def make():
            extra = {name for record in self.records.values() for name in record} - set(self.base.columns)
            return [*self.base.columns, *sorted(extra)]
        return self.derived("columns", make)

    def column(self, name: str) -> np.ndarray:
        """The values of one column for every row (read-only)."""
        def make():
            values = self.base.column(name)
            if self.records or len(self.fresh_ids):
                values = np.concatenate([values, np.full(len(self.fresh_ids), None, object)])
                for row, record in self.records.items():
                    values[row] = record.get(name)
            values.flags.writeable = False
            return values
        return self.derived(("column", name), make)

    def codes(self, name: str) -> np.ndarray:
        """One column's values as integer codes for every row (equal normalised values, equal codes; -1 missing)."""
        def make():
            codes, uniques = self.base.filters.codes(name) if name in self.base.columns else (np.full(len(self.base), -1), [])
            if not self.records:
                return np.concatenate([codes, np.full(len(self.fresh_ids), -1)])
            from .filters import _normal

            lookup = {value: code for code, value in enumerate(uniques)}
            out = np.concatenate([codes, np.full(len(self.fresh_ids), -1)]).astype(np.int64)
            for row, record in self.records.items():
                value = _normal(record.get(name))
                out[row] = -1 if value is None else lookup.setdefault(value, len(lookup))
            return out
        return self.derived(("codes", name), make)

    @property
    def items(self) -> pd.DataFrame:
        """The whole item table, one row per row (removed rows included); made on first use, for offline work."""
        def make():
            if not self.records:
                return self.base.items
            patched = np.array(sorted(self.records), np.int64)
            changed = pd.DataFrame([self.records[row] for row in patched], index=patched)
            kept = self.base.items.drop(index=patched[patched < len(self.base)])
            return pd.concat([kept, changed]).sort_index().reset_index(drop=True)[self.columns]
        return self.derived("items", make)

    # -- keywords ------------------------------------------------------------------------------
    def keyword_scores(self, query: str) -> np.ndarray:
        """BM25 score of every row for ``query``: the base's index for its rows, and for the rows whose record
        changed, an index of their new texts beside a sample of the base's (for term frequencies like the
        catalog's); removed rows score 0."""
        scores = np.zeros(self.rows, np.float32)
        scores[: len(self.base)] = self.base.keywords.scores(query)
        if self.records:
            rows, index = self.derived("changed-keywords", self._changed_keywords)
            scores[rows] = index.scores(query)[: len(rows)]
        if self.index.removed is not None:
            scores[self.index.removed] = 0.0
        return scores

    def _changed_keywords(self) -> tuple[np.ndarray, KeywordIndex]:
        rows, table = self._changed_table()
        sample = self.base.items.iloc[:: max(1, len(self.base) // CHANGED_KEYWORDS_SAMPLE)]
        sample = sample[~sample.index.isin(rows)]
        return rows, KeywordIndex.build(item_descriptions(table) + item_descriptions(sample))

    # -- filters -------------------------------------------------------------------------------
    def mask(self, filters: Filters | None) -> np.ndarray | None:
        """Allowed rows (items that pass the filters, are available unless the filters include unavailable ones, and
        are alive), or None when every row is."""
        if filters is None or filters.is_empty():
            key = ("open", bool(filters and filters.include_unavailable))
            return self.derived(key, lambda: self._mask(filters))
        if filters.hidden and replace(filters, hidden=()).is_empty():  # the business rules' hidden items alone
            return self.derived(("hidden", repr(filters)), lambda: self._mask(filters))
        return self._mask(filters)

    def _mask(self, filters: Filters | None) -> np.ndarray | None:
        filters = filters or Filters()
        known = self.columns
        for name in filters.columns:
            column_named(name, known)  # an unknown column is an error, whichever part of the catalog is asked
        self._check_whole_catalog(filters)
        base = self.base.filters.mask(filters, known=known if self.records else None)
        removed = self.index.removed
        if base is None and not self.records and removed is None:
            return None
        allowed = np.ones(self.rows, bool)
        if base is not None:
            allowed[: len(self.base)] = base
        if self.records:
            rows, table = self._changed_table()
            changed = FilterIndex(table).mask(filters, known=known)
            allowed[rows] = True if changed is None else changed
        if removed is not None:
            allowed &= ~removed
        return allowed

    def _changed_table(self) -> tuple[np.ndarray, pd.DataFrame]:
        def make():
            rows = np.array(sorted(self.records), np.int64)
            return rows, pd.DataFrame([self.records[row] for row in rows])
        return self.derived("changed", make)

    def _check_whole_catalog(self, filters: Filters) -> None:
        """A price or size filter on a catalog that lists no prices or sizes is an error, not an empty result."""
        if filters.min_price is not None or filters.max_price is not None:
            if not self.lists_prices():
                raise FilterError("no item of this catalog has a price, so a price filter would match nothing; "
                                  "add a price column to the catalog")
        if filters.size and not self.lists_sizes():
            raise FilterError("no item of this catalog lists its sizes, so a size filter would match nothing; "
                              "add a sizes column to the catalog")

    def lists_prices(self) -> bool:
        """Whether any item has a price (known once per state)."""
        return self.derived("lists prices", lambda: self.base.filters.has_prices()
                            or any(_number(r.get("price")) for r in self.records.values()))

    def lists_sizes(self) -> bool:
        """Whether any item lists its sizes (known once per state)."""
        return self.derived("lists sizes", lambda: self.base.filters.has_sizes()
                            or any(split_sizes(r.get("sizes")) for r in self.records.values()))

    # -- changes -------------------------------------------------------------------------------
    def applied(self, changes: Sequence[Change]) -> LiveState:
        """A new state with these changes on top (this one is left as it was)."""
        if not changes:
            return self
        index, records, moved = self.index, dict(self.records), dict(self.moved)
        fresh_ids, fresh_embeddings = list(self.fresh_ids), [self.fresh_embeddings]
        rows = self.rows
        for change in changes:
            current = int(state_rows_of(self, moved, index, change.item_id))
            if change.operation == REMOVE:  # the row stays, removed (with its record, if it had one)
                if current >= 0:
                    index = index.remove([current])
                moved[change.item_id] = -1
            elif change.operation == PUT and change.embedding is not None:  # a new photo: a new row
                if current >= 0:
                    index = index.remove([current])
                index = index.add(self.base.searched(change.embedding[None, :]))
                moved[change.item_id] = rows
                records[rows] = change.record
                fresh_ids.append(change.item_id)
                fresh_embeddings.append(np.asarray(change.embedding, np.float16)[None, :])
                rows += 1
            elif change.operation == PUT:  # new fields, the same photo
                if current < 0:
                    raise ValueError(f"change {change.seq} updates item {change.item_id!r}, which the store does not hold")
                records[current] = change.record
        return LiveState(self.base, changes[-1].seq, index, np.array(fresh_ids, dtype=object), records, moved,
                         np.concatenate(fresh_embeddings))


def state_rows_of(state: LiveState, moved: dict[str, int], index: VectorIndex, item_id: str) -> int:
    """The row of ``item_id`` while changes are being applied (``moved`` and ``index`` are the ones in progress)."""
    row = moved.get(item_id)
    if row is None:
        row = int(state.base.rows_of([item_id])[0])
    removed = index.removed
    return -1 if row < 0 or (removed is not None and row < len(removed) and removed[row]) else row


def _number(value) -> bool:
    """Whether ``value`` is a price (a number, not missing)."""
    number = pd.to_numeric(value, errors="coerce")
    return number is not None and not pd.isna(number)
