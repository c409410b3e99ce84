"""DressUp: similar items, recommendations and complete outfits for a fashion catalog.

>>> from dressup import Store
>>> store = Store.open("stores/fpi")                       # doctest: +SKIP
>>> [m.id for m in store.similar("15970", k=3)]             # doctest: +SKIP
"""

from .catalog import Catalog, CatalogError, CatalogSource, Item, read_catalog
from .encoders import Encoder, EncoderSpec, ImageEncoder, create_encoder, list_encoders
from .errors import DressUpError
from .images import ImageError
from .progress import Progress
from .store import (
    FilterError,
    Filters,
    IndexConfig,
    IndexReport,
    Match,
    Store,
    StoreError,
    UnknownItemError,
    VectorIndex,
    index_catalog,
)
from .version import __version__

__all__ = [
    "Catalog", "CatalogError", "CatalogSource", "DressUpError", "Encoder", "EncoderSpec", "FilterError", "Filters",
    "ImageEncoder", "ImageError", "IndexConfig", "IndexReport", "Item", "Match", "Progress", "Store", "StoreError",
    "UnknownItemError", "VectorIndex", "__version__", "create_encoder", "index_catalog", "list_encoders", "read_catalog",
]
