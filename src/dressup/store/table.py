"""A generation's item table on disk and in memory: an Arrow file read through a memory map.

A server at a million items keeps no Python object per item: columns stay Arrow buffers that the operating system
pages in when asked (repetitive text columns are dictionary-encoded, so a filter reads small integer codes), and ids
are found through a sorted array of their 64-bit hashes. The whole table as a pandas DataFrame is made only when
offline work asks for it. Generations written before this format hold ``items.parquet``, read into memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ARROW_FILE = "items.arrow"
PARQUET_FILE = "items.parquet"  # generations written by DressUp 0.x before the Arrow file
DICTIONARY_SHARE = 0.25  # a text column with at most this share of distinct values is dictionary-encoded


def write_items(folder: Path, items: pd.DataFrame) -> None:
    """Write the item table of a new generation (``folder`` is its staging folder)."""
    table = pa.Table.from_pandas(items.reset_index(drop=True), preserve_index=False)
    columns = [_compact(table.column(i)) for i in range(table.num_columns)]
    table = pa.Table.from_arrays(columns, schema=_schema_of(table.schema, columns))
    with pa.OSFile(str(folder / ARROW_FILE), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())  # one chunk a column: a row is found without a search of chunks


def has_items(folder: Path) -> bool:
    return (folder / ARROW_FILE).is_file() or (folder / PARQUET_FILE).is_file()


def _compact(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) or not len(column):
        return column
    if pc.count_distinct(column).as_py() > DICTIONARY_SHARE * len(column):
        return column
    return pa.chunked_array([pc.dictionary_encode(column.combine_chunks())])


def _schema_of(schema: pa.Schema, columns: list[pa.ChunkedArray]) -> pa.Schema:
    fields = [pa.field(f.name, c.type, f.nullable) for f, c in zip(schema, columns, strict=True)]
    return pa.schema(fields, metadata=schema.metadata)


class ItemTable:
    """The item table of one generation: columns, records and the row of each id, without a Python object per row."""

    def __init__(self, table: pa.Table):
        self.table = table
        self.columns = list(table.column_names)
        self.rows = table.num_rows
        if "id" not in self.columns:
            raise ValueError("no id column")
        ids = table.column("id")
        if ids.null_count:
            raise ValueError("an item without an id")
        self._hashes, self._order = _id_hashes(ids)
        self._ids = _plain(ids).combine_chunks()  # one array (copied only when the file holds several chunks)
        self._check_unique()
        self._frame: pd.DataFrame | None = None

    def _check_unique(self) -> None:
        """Ids are unique: equal ids have equal hashes, which sit side by side in the sorted hashes."""
        same = np.flatnonzero(self._hashes[1:] == self._hashes[:-1])
        if not len(same):
            return
        first, second = self.ids_at(self._order[same]), self.ids_at(self._order[same + 1])
        duplicated = first[first == second]
        if len(duplicated):
            raise ValueError(f"{len(duplicated):,} duplicated id(s), e.g. {duplicated[0]!r}")

    @classmethod
    def open(cls, folder: Path) -> ItemTable:
        if (folder / ARROW_FILE).is_file():
            return cls(pa.ipc.open_file(pa.memory_map(str(folder / ARROW_FILE))).read_all())
        if not (folder / PARQUET_FILE).is_file():
            raise FileNotFoundError(folder / ARROW_FILE)
        return cls(pq.read_table(folder / PARQUET_FILE))

    def __len__(self) -> int:
        return self.rows

    def column(self, name: str) -> np.ndarray:
        """One column's values, one Python object per row (missing values are None)."""
        if name not in self.columns:
            return np.full(self.rows, None, object)
        return np.asarray(_plain(self.table.column(name)).to_numpy(zero_copy_only=False), dtype=object)

    def arrow_column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def record(self, row: int) -> dict:
        """The whole record on ``row``."""
        return self.table.slice(int(row), 1).to_pylist()[0]

    def ids_at(self, rows: np.ndarray) -> np.ndarray:
        """The ids on ``rows`` (an object array)."""
        taken = self._ids.take(pa.array(np.asarray(rows, np.int64)))
        return np.asarray(taken.to_numpy(zero_copy_only=False), dtype=object)

    def rows_of(self, keys: Iterable) -> np.ndarray:
        """The row of each id; -1 for ids the table does not hold."""
        keys = np.asarray([str(k) for k in keys], dtype=object)
        rows = np.full(len(keys), -1, np.int64)
        if not len(keys) or not self.rows:
            return rows
        wanted = pd.util.hash_array(keys, categorize=False)
        at = np.searchsorted(self._hashes, wanted)
        found = (at < len(self._hashes)) & (self._hashes[np.minimum(at, len(self._hashes) - 1)] == wanted)
        candidates = self._order[at[found]]
        same = self.ids_at(candidates) == keys[found]
        rows[np.flatnonzero(found)[same]] = candidates[same]
        for position in np.flatnonzero(found)[~same]:  # two ids with one hash (about one in 10^10 tables): look it up
            hits = np.flatnonzero(self.column("id") == keys[position])
            rows[position] = hits[0] if len(hits) else -1
        return rows

    def frame(self) -> pd.DataFrame:
        """The whole table as a DataFrame (made once, for offline work: a million rows cost a few hundred MB)."""
        if self._frame is None:
            table = pa.Table.from_arrays([_plain(c) for c in self.table.columns], names=self.columns)
            table = table.replace_schema_metadata(self.table.schema.metadata)
            self._frame = table.to_pandas()
        return self._frame


def _plain(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A dictionary-encoded column decoded to its values."""
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _id_hashes(ids: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The ids' 64-bit hashes, sorted, and the row of each (a lookup is a binary search, 16 bytes a row)."""
    hashes = np.empty(len(ids), np.uint64)
    start = 0
    for chunk in _plain(ids).chunks:  # a chunk at a time: its Python strings are freed before the next
        for begin in range(0, len(chunk), 262_144):
            piece = chunk.slice(begin, 262_144).to_numpy(zero_copy_only=False).astype(object)
            hashes[start:start + len(piece)] = pd.util.hash_array(piece, categorize=False)
            start += len(piece)
    order = np.argsort(hashes, kind="stable")
    return hashes[order], order.astype(np.int64)
