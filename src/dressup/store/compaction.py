"""Compaction: the catalog journal's changes folded into a new base generation, while the store goes on serving.

The new generation holds the base's rows and the rows added since, in the same order: the graph takes the added
vectors in (an insertion, not a rebuild) and removed rows stay as removed rows, under ids that match no item. When
removed rows make up more than ``rebuild_share`` of the rows, the generation is written from the live rows alone and
its index built anew. Readers go on with the old base and the journal until they see the new manifest; writers go
on writing to the journal, and the changes after the folded ones stay there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..catalog import ATTRIBUTE_PREFIX, parquet_safe
from .generations import StoreBusyError, store_lock, write_generation
from .store import Store
from .vectors import IndexConfig

REBUILD_SHARE = 0.25
REMOVED_ID = "\x00removed-{row}"  # never an item id: ids hold no control characters


@dataclass
class CompactionReport:
    folded: int  # journal changes taken into the new base
    generation: str
    rows: int
    rebuilt: bool  # the index was built anew (too many removed rows)


def compact(store_path: str | Path, database_url: str | None = None, rebuild_share: float = REBUILD_SHARE,
            wait: float = 0.0) -> CompactionReport | None:
    """Fold the journal into a new base generation; None when there is nothing to fold, or another process is
    writing the store (a compaction or an `index` run) and ``wait`` seconds were not enough."""
    store_path = Path(store_path)
    try:
        with store_lock(store_path, wait=wait):
            store = Store.open(store_path, database_url)
            try:
                return _compact(store, rebuild_share)
            finally:
                store.close()
    except StoreBusyError:
        return None


def _compact(store: Store, rebuild_share: float) -> CompactionReport | None:
    state, manifest = store.state, store.manifest
    if state.seq <= manifest.get("journal_seq", 0):
        return None
    items, embeddings = state.items.copy(), np.asarray(store.embeddings(), np.float32)
    removed = state.index.removed
    rebuilt = removed is not None and removed.mean() > rebuild_share
    details = {"counts": {k: v for k, v in manifest.get("counts", {}).items() if k != "items"}}
    details.update({key: manifest[key] for key in ("source", "layout") if key in manifest})
    config = IndexConfig.from_dict(manifest.get("index_config", {}))
    for column in items.columns:
        if column.startswith(ATTRIBUTE_PREFIX):
            items[column] = parquet_safe(items[column])  # numbers and text mixed by edits: Parquet stores them as text
    if rebuilt:
        keep = ~removed
        folded = write_generation(store.path, items[keep].reset_index(drop=True), embeddings[keep], store.encoder, config,
                                  details, journal_seq=state.seq)
    else:
        dead = np.flatnonzero(removed) if removed is not None else np.empty(0, np.int64)
        items.loc[dead, "id"] = [REMOVED_ID.format(row=row) for row in dead]
        folded = write_generation(store.path, items, embeddings, store.encoder, config, details, journal_seq=state.seq,
                                  index=state.index, same_vectors_as=store.generation_path)
    if store.journal is not None:  # changes before the previous base are folded twice over: no reader needs them
        store.journal.prune(manifest.get("journal_seq", 0))
    return CompactionReport(state.seq - manifest.get("journal_seq", 0), folded["generation"], len(items), bool(rebuilt))
