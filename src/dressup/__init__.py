"""DressUp: similar items, recommendations and complete outfits for a fashion catalog.

>>> from dressup import Store
>>> store = Store.open("stores/fpi")                       # doctest: +SKIP
>>> [m.id for m in store.similar("15970", k=3)]             # doctest: +SKIP
"""

__version__ = "0.1.0"

from .catalog import Catalog, CatalogError, CatalogSource, Item, read_catalog
from .encoders import EncoderSpec, ImageEncoder, create_encoder, list_encoders
from .errors import DressUpError
from .filters import FilterError, Filters
from .images import ImageError
from .index import IndexConfig, VectorIndex
from .indexing import IndexReport, index_catalog
from .store import Match, Store, StoreError, UnknownItemError

__all__ = [
    "Catalog", "CatalogError", "CatalogSource", "DressUpError", "EncoderSpec", "FilterError", "Filters", "ImageEncoder",
    "ImageError", "IndexConfig", "IndexReport", "Item", "Match", "Store", "StoreError", "UnknownItemError",
    "VectorIndex", "create_encoder", "index_catalog", "list_encoders", "read_catalog",
]
