"""A catalog's items, embeddings and vector index on disk, and everything that reads or writes them.

- `store`: `Store`, an opened store, searched with ``similar``;
- `live`: the catalog as it is now, a base generation with the journal's changes on top;
- `generations`: the folders a store is made of, and the manifest that names the current one;
- `journal`: the catalog's changes since, in the shop database;
- `vectors`: `VectorIndex`, the nearest-neighbour engines, and the PCA projection;
- `filters`: `Filters` on item fields, attributes and availability;
- `fusion`: several embeddings of each item searched as one;
- `indexing`: `index_catalog`, a store brought in line with a catalog file;
- `editing`: single products added, changed or removed;
- `compaction`: the journal folded into a new base generation.
"""

from .errors import DamagedStoreError
from .filters import FilterError, FilterIndex, Filters
from .generations import MANIFEST, StoreBusyError, StoreError, read_item_ids, read_manifest, store_lock, write_generation
from .indexing import IndexReport, index_catalog
from .live import LiveState, UnknownItemError
from .store import GarmentMatches, Match, SearchError, SearchResults, Store
from .vectors import IndexConfig, VectorIndex, create_index, load_index

__all__ = [
    "MANIFEST", "DamagedStoreError", "FilterError", "FilterIndex", "Filters", "IndexConfig", "IndexReport", "LiveState",
    "GarmentMatches", "Match", "SearchError", "SearchResults", "Store", "StoreBusyError", "StoreError", "UnknownItemError",
    "VectorIndex", "create_index",
    "index_catalog", "load_index",
    "read_item_ids", "read_manifest", "store_lock", "write_generation",
]
