"""Reading a catalog table into the item table, whatever its layout (see `dressup.catalog.layouts`)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import first_line
from .items import ATTRIBUTE_PREFIX, ITEM_FIELDS, CatalogError, Item, is_in_stock, parquet_safe, split_sizes
from .layouts import CatalogLayout, CatalogSource, detect_layout
from .layouts.generic import CANDIDATES

_GENDERS = {
    "men": "Men", "male": "Men", "man": "Men", "menswear": "Men",
    "women": "Women", "female": "Women", "woman": "Women", "ladieswear": "Women", "divided": "Women",
    "boys": "Boys", "girls": "Girls", "kids": "Kids", "baby/children": "Kids", "children": "Kids",
    "unisex": "Unisex", "sport": "Unisex",
}


class Catalog:
    """A shop's catalog read into the item schema: ``Catalog.read("../shared/data/hm-sample")``."""

    def __init__(self, items: pd.DataFrame, source: CatalogSource, layout: type[CatalogLayout] | None = None):
        self.items = items
        self.source = source
        self._layout = layout

    @classmethod
    def read(cls, path: str | Path, layout: str = "auto", columns: dict[str, str] | None = None,
             image_root: Path | None = None) -> Catalog:
        source = CatalogSource(Path(path), layout=layout, columns=columns or {}, image_root=image_root)
        chosen, items = read_items(source)
        return cls(items, source, chosen)

    @property
    def layout(self) -> str:
        """The name of the layout the table was read as."""
        return (self._layout or detect_layout(self.source)[0]).name

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return (Item.from_row(row) for row in self.items.to_dict("records"))

    def item(self, item_id: str) -> Item:
        rows = self.items.index[self.items["id"] == str(item_id)]
        if len(rows) == 0:
            raise CatalogError(f"unknown item id {item_id!r} in {self.source.path}")
        return Item.from_row(self.items.loc[rows[0]].to_dict())


def read_catalog(source: CatalogSource | str | Path) -> pd.DataFrame:
    """Read a catalog into the item table (one row per item, ids unique, image paths absolute)."""
    return read_items(source if isinstance(source, CatalogSource) else CatalogSource(Path(source)))[1]


def read_items(source: CatalogSource) -> tuple[type[CatalogLayout], pd.DataFrame]:
    """The layout a catalog was read as, and its item table."""
    layout, table_path = detect_layout(source)
    text_columns = {*layout.text_columns, source.columns.get("id", "id")}
    raw = _read_table(table_path, text_columns)
    items = layout.items(raw, table_path, source)
    return layout, _finish(items, raw, image_root=source.image_root or table_path.parent)


def label_column(items: pd.DataFrame, label: str) -> pd.Series:
    """A label of the item table by its raw column name (``articleType``) or item field (``category``)."""
    for column in (f"{ATTRIBUTE_PREFIX}{label}", label):
        if column in items.columns:
            return items[column]
    raw = sorted(c.removeprefix(ATTRIBUTE_PREFIX) for c in items.columns if c.startswith(ATTRIBUTE_PREFIX))
    raise CatalogError(f"no column {label!r} in the catalog; it has {', '.join([*ITEM_FIELDS, *raw])}")


def split_file_beside(catalog: str | Path) -> Path | None:
    """The ``splits.csv`` next to a catalog folder or table, if there is one."""
    catalog = Path(catalog)
    candidate = (catalog if catalog.is_dir() else catalog.parent) / "splits.csv"
    return candidate if candidate.is_file() else None


def read_split(ids: pd.Series, split_file: str | Path, unlisted: str = "test") -> np.ndarray:
    """Each item's split (``train``, ``val`` or ``test``) from an ``id, split`` table.

    Items the file does not name get ``unlisted``: ``test`` by default, so they are never trained
    on by accident; evaluation passes ``""`` so they are not scored either.
    """
    try:
        table = pd.read_csv(split_file, dtype=str)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise CatalogError(f"{split_file}: cannot read the split file ({first_line(error)})") from None
    if not {"id", "split"} <= set(table.columns):
        raise CatalogError(f"{split_file}: expected columns id, split; found {', '.join(map(str, table.columns))}")
    bad = sorted(set(table["split"].dropna()) - {"train", "val", "test"})
    if bad:
        raise CatalogError(f"{split_file}: unknown split name(s) {', '.join(bad)}; use train, val or test")
    mapping = dict(zip(table["id"].astype(str).str.strip(), table["split"], strict=True))
    return ids.astype(str).map(mapping).fillna(unlisted).to_numpy()


def _read_table(path: Path, text_columns: set[str]) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        else:
            # Ids are kept as text: H&M article ids have meaningful leading zeros.
            header = pd.read_csv(path, nrows=0).columns
            text = {c.lower() for c in text_columns} | {c.lower() for c in CANDIDATES["id"]}
            dtypes = {c: str for c in header if str(c).lower() in text}
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)  # rows longer than the header
                table = pd.read_csv(path, dtype=dtypes, index_col=False, on_bad_lines="error")
    except FileNotFoundError:
        raise CatalogError(f"{path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError,
            OSError) as error:
        raise CatalogError(f"{path}: malformed table ({first_line(error)})") from None
    if table.empty:
        raise CatalogError(f"{path}: the table has no rows")
    return table


def _finish(items: pd.DataFrame, raw: pd.DataFrame, image_root: Path) -> pd.DataFrame:
    items = items.reset_index(drop=True)
    raw = raw.reset_index(drop=True)
    items["id"] = items["id"].astype(object).where(items["id"].notna(), "").astype(str).str.strip()
    empty_ids = items["id"].isin(["", "nan", "None"])
    if empty_ids.any():
        raise CatalogError(f"{int(empty_ids.sum())} row(s) have no id (first at row {int(np.argmax(empty_ids)) + 2})")
    duplicated = items["id"][items["id"].duplicated()].unique()
    if len(duplicated):
        raise CatalogError(f"{len(duplicated)} duplicated id(s), e.g. {', '.join(map(str, duplicated[:5]))}")
    for name in ("title", "category", "subcategory", "colour", "gender", "sizes", "brand", "image", "sold_out_sizes"):
        items[name] = items[name].fillna("").astype(str).str.strip() if name in items else ""
    items["gender"] = items["gender"].map(lambda g: _GENDERS.get(g.lower(), g))
    items["price"] = pd.to_numeric(items.get("price"), errors="coerce").astype(float)
    items["sizes"] = items["sizes"].map(lambda s: "|".join(split_sizes(s)))
    items["in_stock"] = items["in_stock"].map(is_in_stock).astype(bool) if "in_stock" in items else True
    items["sold_out_sizes"] = items["sold_out_sizes"].map(lambda s: "|".join(split_sizes(s))) if "sold_out_sizes" in items else ""
    root = os.path.abspath(image_root)
    given = items["image"]
    items["image"] = [_absolute(path, root) for path in given]
    for column in raw.columns:
        values = raw[column]
        if values.astype(str).str.strip().equals(given):  # the photo's path: only its file name is an attribute,
            values = given.map(os.path.basename)  # for the API publishes attributes and must not show server paths
        items[ATTRIBUTE_PREFIX + str(column)] = parquet_safe(values)
    return items[list(ITEM_FIELDS) + [c for c in items.columns if c.startswith(ATTRIBUTE_PREFIX)]]


def _absolute(image: str, root: str) -> str:
    if not image or "://" in image:
        return image
    return os.path.normpath(os.path.join(root, image))
