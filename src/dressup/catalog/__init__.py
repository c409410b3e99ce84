"""Reading a shop's catalog into one item schema, whatever its layout.

Recognised layouts (`LAYOUTS`, detected by their columns):

- ``fashion-product-images``: ``styles.csv`` + ``images/ID.jpg``
- ``hm``: ``articles.csv`` + ``images/ARTICLE_ID.jpg`` (prices from ``transactions.csv`` when present)
- ``mango``: ``products.csv`` with an image-path column (``des_filename``)
- ``generic``: any CSV or Parquet table with an id column, an image column and metadata columns

Every layout becomes a table with the columns of `ITEM_FIELDS`; the source's own columns are kept
as attributes, prefixed with ``attr:`` in the table.
"""

from .items import (
    ATTRIBUTE_PREFIX,
    CONTROL_CHARACTERS,
    ITEM_FIELDS,
    MAX_ID_LENGTH,
    CatalogError,
    Item,
    id_problem,
    is_in_stock,
    parquet_safe,
    plain_value,
    split_sizes,
)
from .layouts import LAYOUTS, CatalogLayout, CatalogSource, detect_layout, layout_named, layout_of_items
from .reading import Catalog, label_column, read_catalog, read_items, read_split, split_file_beside

__all__ = [
    "ATTRIBUTE_PREFIX", "CONTROL_CHARACTERS", "ITEM_FIELDS", "LAYOUTS", "MAX_ID_LENGTH", "Catalog", "CatalogError",
    "CatalogLayout", "CatalogSource", "Item", "detect_layout", "id_problem", "is_in_stock", "label_column", "layout_named",
    "layout_of_items", "parquet_safe", "plain_value", "read_catalog", "read_items", "read_split", "split_file_beside",
    "split_sizes",
]
