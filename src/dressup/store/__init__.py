"""A catalog's items, embeddings and vector index on disk, and everything that reads or writes them.

- `store`: `Store`, an opened store, searched with ``similar``;
- `generations`: the folders a store is made of, and the manifest that names the current one;
- `vectors`: `VectorIndex`, the nearest-neighbour engines, and the PCA projection;
- `filters`: `Filters` on item fields and attributes;
- `fusion`: several embeddings of each item searched as one;
- `indexing`: `index_catalog`, a store brought in line with a catalog file;
- `editing`: single products added, changed or removed.
"""

from .filters import FilterError, FilterIndex, Filters
from .generations import MANIFEST, StoreBusyError, StoreError, read_item_ids, read_manifest, store_lock, write_generation
from .indexing import IndexReport, index_catalog
from .store import Match, Store, UnknownItemError
from .vectors import IndexConfig, VectorIndex, create_index, load_index

__all__ = [
    "MANIFEST", "FilterError", "FilterIndex", "Filters", "IndexConfig", "IndexReport", "Match", "Store", "StoreBusyError",
    "StoreError", "UnknownItemError", "VectorIndex", "create_index", "index_catalog", "load_index", "read_item_ids",
    "read_manifest", "store_lock", "write_generation",
]
