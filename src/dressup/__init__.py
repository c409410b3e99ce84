"""DressUp: similar items, recommendations and complete outfits for a fashion catalog.

>>> from dressup import Store
>>> store = Store.open("stores/fpi")                       # doctest: +SKIP
>>> [m.id for m in store.similar("15970", k=3)]             # doctest: +SKIP
"""

__version__ = "0.1.0"

from .catalog import Catalog, CatalogError, CatalogSource, Item, read_catalog  # noqa: E402
from .encoders import EncoderSpec, ImageEncoder, create_encoder, list_encoders  # noqa: E402
from .errors import DressUpError  # noqa: E402
from .filters import FilterError, Filters  # noqa: E402
from .images import ImageError  # noqa: E402
from .index import IndexConfig, VectorIndex  # noqa: E402
from .indexing import IndexReport, index_catalog  # noqa: E402
from .store import Match, Store, StoreError, UnknownItemError  # noqa: E402

__all__ = [
    "Catalog", "CatalogError", "CatalogSource", "DressUpError", "EncoderSpec", "FilterError", "Filters", "ImageEncoder",
    "ImageError", "IndexConfig", "IndexReport", "Item", "Match", "Store", "StoreError", "UnknownItemError",
    "VectorIndex", "create_encoder", "index_catalog", "list_encoders", "read_catalog",
]
