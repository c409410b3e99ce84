"""The item schema every catalog layout is read into, and the rules for item and user ids.

An item table has the columns of `ITEM_FIELDS`; the source's own columns are kept as attributes, prefixed
with ``attr:`` in the table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import DressUpError

ITEM_FIELDS = ("id", "title", "category", "subcategory", "colour", "gender", "price", "sizes", "brand", "image", "in_stock",
               "sold_out_sizes")
ATTRIBUTE_PREFIX = "attr:"
MAX_ID_LENGTH = 128  # of item and user ids
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"  # never in ids: files such as a --users list hold one id per line


class CatalogError(DressUpError, ValueError):
    """A catalog table that cannot be read or mapped onto the item schema."""


def id_problem(text: str, what: str = "item") -> str | None:
    """Why ``text`` cannot be an item or user id (``what``), or None: the one rule for ids, wherever they come in.

    >>> id_problem("AB/12") is None
    True
    >>> id_problem("two\\nlines")
    "item id 'two\\\\nlines' contains a control character: no tabs or line breaks"
    """
    if not text:
        return f"empty {what} id"
    if len(text) > MAX_ID_LENGTH:
        return f"{what} id longer than {MAX_ID_LENGTH} characters: {text[:40]!r}..."
    if re.search(CONTROL_CHARACTERS, text):
        return f"{what} id {text[:40]!r} contains a control character: no tabs or line breaks"
    return None


@dataclass(frozen=True)
class Item:
    """One product of the catalog."""

    id: str
    title: str = ""
    category: str = ""
    subcategory: str = ""
    colour: str = ""
    gender: str = ""
    price: float | None = None
    sizes: tuple[str, ...] = ()
    brand: str = ""
    image: str = ""
    in_stock: bool = True                # live: can be bought now (search, feeds and outfits leave out what cannot)
    sold_out_sizes: tuple[str, ...] = ()  # live: sizes of `sizes` out of stock
    attributes: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict) -> Item:
        attributes = {k[len(ATTRIBUTE_PREFIX):]: plain_value(v) for k, v in row.items() if k.startswith(ATTRIBUTE_PREFIX)}
        price = row.get("price")
        return cls(
            id=str(row["id"]),
            title=row.get("title") or "",
            category=row.get("category") or "",
            subcategory=row.get("subcategory") or "",
            colour=row.get("colour") or "",
            gender=row.get("gender") or "",
            price=None if price is None or pd.isna(price) else float(price),
            sizes=tuple(split_sizes(row.get("sizes"))),
            brand=row.get("brand") or "",
            image=row.get("image") or "",
            in_stock=is_in_stock(row.get("in_stock", True)),
            sold_out_sizes=tuple(split_sizes(row.get("sold_out_sizes"))),
            attributes=attributes,
        )

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in ITEM_FIELDS}
        data["sizes"] = list(self.sizes)
        data["sold_out_sizes"] = list(self.sold_out_sizes)
        data["attributes"] = self.attributes
        return data


def is_in_stock(value) -> bool:
    """Whether a stock value means "can be bought": missing means yes; false, 0, "no", "out of stock" mean no.

    >>> [is_in_stock(v) for v in (None, True, 0, 3, "no", "In stock", "out of stock")]
    [True, True, False, True, False, True, False]
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    if isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating)):
        return bool(value > 0) if not isinstance(value, (bool, np.bool_)) else bool(value)
    text = str(value).strip().lower()
    return text not in ("false", "no", "0", "n", "out of stock", "out_of_stock", "sold out", "unavailable")


def split_sizes(value) -> list[str]:
    """Sizes written as ``S|M|L``, ``S,M,L`` or ``S;M;L``.

    >>> split_sizes("S, M;L")
    ['S', 'M', 'L']
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value)
    for separator in (",", ";"):
        text = text.replace(separator, "|")
    return [s.strip() for s in text.split("|") if s.strip()]


def parquet_safe(column: pd.Series) -> pd.Series:
    """A column Parquet can store: mixed numbers and text (e.g. sizes 38 and "XL") become text."""
    if column.dtype != object:
        return column
    kinds = {type(v) for v in column.dropna()}
    if len(kinds) <= 1:
        return column
    return column.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))


def plain_value(value):
    """An attribute value as a JSON-friendly scalar (NaN and infinities become None)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value
