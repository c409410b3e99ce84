"""Any CSV or Parquet table with an id column, an image column and metadata columns."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..items import CatalogError
from .base import IMAGE_COLUMNS, CatalogLayout, CatalogSource

# Column names a generic table may use for each item field, in order of preference.
CANDIDATES = {
    "id": ("id", "item_id", "product_id", "article_id", "sku"),
    "image": IMAGE_COLUMNS,
    "title": ("title", "name", "product_name", "productdisplayname", "prod_name"),
    "category": ("category", "type", "product_type", "articletype"),
    "subcategory": ("subcategory", "sub_category", "family", "group"),
    "colour": ("colour", "color", "basecolour", "base_colour"),
    "gender": ("gender", "sex"),
    "price": ("price",),
    "sizes": ("sizes", "size"),
    "brand": ("brand",),
    "in_stock": ("in_stock", "available", "availability", "stock"),
    "sold_out_sizes": ("sold_out_sizes", "sizes_sold_out"),
}


class Generic(CatalogLayout):
    """Item fields from columns of the usual names (``id``, ``sku``...; ``image``, ``image_path``...) or the ones
    named with ``--id-column``, ``--image-column`` ...; the layout of last resort."""

    name = "generic"
    text_columns = CANDIDATES["id"]

    @classmethod
    def matches(cls, columns: Iterable[str], source: CatalogSource | None = None) -> bool:
        columns = list(map(str, columns))
        named = source.columns if source is not None else {}
        return all(named.get(f) in columns if f in named else _guess(columns, f) is not None for f in ("id", "image"))

    @classmethod
    def items(cls, raw: pd.DataFrame, path: Path, source: CatalogSource) -> pd.DataFrame:
        chosen = {}
        for name in CANDIDATES:
            if name in source.columns:
                column = source.columns[name]
                if column not in raw.columns:
                    raise CatalogError(f"{path}: no column {column!r} for the item {name}; the table has "
                                       f"{', '.join(map(str, raw.columns))}")
                chosen[name] = column
            else:
                chosen[name] = _guess(raw.columns, name)
        for required in ("id", "image"):
            if chosen[required] is None:
                raise CatalogError(
                    f"{path}: cannot find the {required} column; name it with --{required}-column "
                    f"(the table has {', '.join(map(str, raw.columns))})"
                )
        items = pd.DataFrame({name: raw[column] if column is not None else None for name, column in chosen.items()})
        items["id"] = raw[chosen["id"]].astype(str).str.strip()
        if chosen["price"] is not None:
            items["price"] = pd.to_numeric(raw[chosen["price"]], errors="coerce")
        return items


def _guess(columns: Iterable, field: str):
    """The column a generic table most likely uses for an item field, or None."""
    lower = {str(c).lower(): c for c in columns}
    return next((lower[c] for c in CANDIDATES[field] if c in lower), None)
