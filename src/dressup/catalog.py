"""Reading a shop's catalog into one item schema, whatever its layout.

Recognised layouts (``detect_layout``):

- ``fashion-product-images``: ``styles.csv`` + ``images/ID.jpg``
- ``hm``: ``articles.csv`` + ``images/ARTICLE_ID.jpg`` (prices from ``transactions.csv`` when present)
- ``mango``: ``products.csv`` with an image-path column (``des_filename``)
- ``generic``: any CSV or Parquet table with an id column, an image column and metadata columns

Every layout becomes a table with the columns of `ITEM_FIELDS`; the source's own columns are kept
as attributes, prefixed with ``attr:`` in the table.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DressUpError, first_line

ITEM_FIELDS = ("id", "title", "category", "subcategory", "colour", "gender", "price", "sizes", "brand", "image")
ATTRIBUTE_PREFIX = "attr:"
MAX_ID_LENGTH = 128  # of item and user ids
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f]"  # never in ids: files such as a --users list hold one id per line
LAYOUTS = ("fashion-product-images", "hm", "mango", "generic")



def id_problem(text: str, what: str = "item") -> str | None:
    """Why ``text`` cannot be an item or user id (``what``), or None: the one rule for ids, wherever they come in."""
    if not text:
        return f"empty {what} id"
    if len(text) > MAX_ID_LENGTH:
        return f"{what} id longer than {MAX_ID_LENGTH} characters: {text[:40]!r}..."
    if re.search(CONTROL_CHARACTERS, text):
        return f"{what} id {text[:40]!r} contains a control character: no tabs or line breaks"
    return None


_GENDERS = {
    "men": "Men", "male": "Men", "man": "Men", "menswear": "Men",
    "women": "Women", "female": "Women", "woman": "Women", "ladieswear": "Women", "divided": "Women",
    "boys": "Boys", "girls": "Girls", "kids": "Kids", "baby/children": "Kids", "children": "Kids",
    "unisex": "Unisex", "sport": "Unisex",
}

# Column names a generic table may use for each item field, in order of preference.
_GENERIC_COLUMNS = {
    "id": ("id", "item_id", "product_id", "article_id", "sku"),
    "image": ("image", "image_path", "image_file", "filename", "file", "path", "image_url"),
    "title": ("title", "name", "product_name", "productdisplayname", "prod_name"),
    "category": ("category", "type", "product_type", "articletype"),
    "subcategory": ("subcategory", "sub_category", "family", "group"),
    "colour": ("colour", "color", "basecolour", "base_colour"),
    "gender": ("gender", "sex"),
    "price": ("price",),
    "sizes": ("sizes", "size"),
    "brand": ("brand",),
}


class CatalogError(DressUpError, ValueError):
    """A catalog table that cannot be read or mapped onto the item schema."""


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
    attributes: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict) -> Item:
        attributes = {k[len(ATTRIBUTE_PREFIX):]: _plain(v) for k, v in row.items() if k.startswith(ATTRIBUTE_PREFIX)}
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
            attributes=attributes,
        )

    def to_dict(self) -> dict:
        data = {name: getattr(self, name) for name in ITEM_FIELDS}
        data["sizes"] = list(self.sizes)
        data["attributes"] = self.attributes
        return data


@dataclass
class CatalogSource:
    """Where a catalog comes from and how to read it: the table, its layout and column options."""

    path: Path
    layout: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)
    image_root: Path | None = None


class Catalog:
    """A shop's catalog read into the item schema: ``Catalog.read("../shared/data/hm-sample")``."""

    def __init__(self, items: pd.DataFrame, source: CatalogSource):
        self.items = items
        self.source = source

    @classmethod
    def read(cls, path: str | Path, layout: str = "auto", columns: dict[str, str] | None = None, image_root: Path | None = None) -> Catalog:
        source = CatalogSource(Path(path), layout=layout, columns=columns or {}, image_root=image_root)
        return cls(read_catalog(source), source)

    @property
    def layout(self) -> str:
        return detect_layout(self.source.path)[0] if self.source.layout == "auto" else self.source.layout

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return (Item.from_row(row) for row in self.items.to_dict("records"))

    def item(self, item_id: str) -> Item:
        rows = self.items.index[self.items["id"] == str(item_id)]
        if len(rows) == 0:
            raise CatalogError(f"unknown item id {item_id!r} in {self.source.path}")
        return Item.from_row(self.items.loc[rows[0]].to_dict())


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


def detect_layout(path: str | Path) -> tuple[str, Path]:
    """The layout of a catalog folder or table, and the table file to read."""
    path = Path(path)
    if not path.exists():
        raise CatalogError(f"{path}: no such file or folder")
    if path.is_dir():
        for table, layout in (("styles.csv", "fashion-product-images"), ("articles.csv", "hm"), ("products.csv", "mango")):
            if (path / table).is_file():
                return layout, path / table
        tables = sorted(path.glob("*.csv")) + sorted(path.glob("*.parquet"))
        if len(tables) == 1:
            return "generic", tables[0]
        raise CatalogError(
            f"{path}: cannot tell the catalog table; expected styles.csv, articles.csv, products.csv "
            f"or exactly one .csv/.parquet file (found {len(tables)})"
        )
    by_name = {"styles.csv": "fashion-product-images", "articles.csv": "hm", "products.csv": "mango"}
    return by_name.get(path.name, "generic"), path


def read_catalog(source: CatalogSource | str | Path) -> pd.DataFrame:
    """Read a catalog into the item table (one row per item, ids unique, image paths absolute)."""
    if not isinstance(source, CatalogSource):
        source = CatalogSource(Path(source))
    layout, table_path = detect_layout(source.path)
    if source.layout not in ("auto", layout):
        if source.layout not in LAYOUTS:
            raise CatalogError(f"unknown layout {source.layout!r}; use one of auto, {', '.join(LAYOUTS)}")
        layout = source.layout
    id_columns = {"article_id", "cod_modelo_color", *_GENERIC_COLUMNS["id"], source.columns.get("id", "id")}
    raw = _read_table(table_path, id_columns=id_columns)
    mapper = {"fashion-product-images": _fashion_product_images, "hm": _hm, "mango": _mango, "generic": _generic}[layout]
    items = mapper(raw, table_path, source)
    return _finish(items, raw, image_root=source.image_root or table_path.parent)


def _read_table(path: Path, id_columns: set[str]) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        else:
            # Ids are kept as text: H&M article ids have meaningful leading zeros.
            header = pd.read_csv(path, nrows=0).columns
            dtypes = {c: str for c in header if c in id_columns or str(c).lower() in id_columns}
            with warnings.catch_warnings():
                warnings.simplefilter("error", pd.errors.ParserWarning)  # rows longer than the header
                table = pd.read_csv(path, dtype=dtypes, index_col=False, on_bad_lines="error")
    except FileNotFoundError:
        raise CatalogError(f"{path}: no such file") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as error:
        raise CatalogError(f"{path}: malformed table ({first_line(error)})") from None
    if table.empty:
        raise CatalogError(f"{path}: the table has no rows")
    return table


def _require(raw: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise CatalogError(f"{path}: missing column(s) {', '.join(missing)}; the table has {', '.join(map(str, raw.columns))}")


def _fashion_product_images(raw: pd.DataFrame, path: Path, source: CatalogSource) -> pd.DataFrame:
    _require(raw, path, ("id", "articleType"))
    names = raw.get("productDisplayName", pd.Series("", index=raw.index)).fillna("").astype(str)
    return pd.DataFrame({
        "id": raw["id"].astype(str).str.strip(),
        "title": names,
        "category": raw["articleType"],
        "subcategory": raw.get("subCategory"),
        "colour": raw.get("baseColour"),
        "gender": raw.get("gender"),
        "price": np.nan,
        "sizes": "",
        "brand": names.str.split().str[0].fillna(""),
        "image": "images/" + raw["id"].astype(str).str.strip() + ".jpg",
    })


def _hm(raw: pd.DataFrame, path: Path, source: CatalogSource) -> pd.DataFrame:
    _require(raw, path, ("article_id", "product_type_name"))
    ids = raw["article_id"].astype(str).str.strip()
    return pd.DataFrame({
        "id": ids,
        "title": raw.get("prod_name"),
        "category": raw["product_type_name"],
        "subcategory": raw.get("product_group_name"),
        "colour": raw.get("colour_group_name"),
        "gender": raw.get("index_group_name"),
        "price": ids.map(_hm_prices(path.parent / "transactions.csv")),
        "sizes": "",
        "brand": "H&M",
        "image": "images/" + ids + ".jpg",
    })


def _hm_prices(transactions: Path) -> dict[str, float]:
    """Median sold price per article, when the shop's transactions sit beside the articles."""
    if not transactions.is_file():
        return {}
    try:
        sales = pd.read_csv(transactions, usecols=["article_id", "price"], dtype={"article_id": str})
        prices = pd.to_numeric(sales["price"], errors="coerce")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as error:
        raise CatalogError(f"{transactions}: cannot read prices ({first_line(error)})") from None
    return prices.groupby(sales["article_id"]).median().to_dict()


def _mango(raw: pd.DataFrame, path: Path, source: CatalogSource) -> pd.DataFrame:
    _require(raw, path, ("cod_modelo_color", "des_filename"))
    colour = raw.get("des_agrup_color_eng", pd.Series("", index=raw.index)).fillna("").astype(str).str.title()
    kind = raw.get("des_product_type", pd.Series("", index=raw.index)).fillna("").astype(str)
    return pd.DataFrame({
        "id": raw["cod_modelo_color"].astype(str).str.strip(),
        "title": (colour + " " + kind).str.strip(),
        "category": kind,
        "subcategory": raw.get("des_product_family"),
        "colour": colour,
        "gender": raw.get("des_sex"),
        "price": np.nan,
        "sizes": "",
        "brand": "Mango",
        "image": raw["des_filename"],
    })


def _generic(raw: pd.DataFrame, path: Path, source: CatalogSource) -> pd.DataFrame:
    lower = {str(c).lower(): c for c in raw.columns}
    chosen = {}
    for name, candidates in _GENERIC_COLUMNS.items():
        if name in source.columns:
            column = source.columns[name]
            if column not in raw.columns:
                raise CatalogError(f"{path}: no column {column!r} for the item {name}; the table has {', '.join(map(str, raw.columns))}")
            chosen[name] = column
        else:
            chosen[name] = next((lower[c] for c in candidates if c in lower), None)
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
    for name in ("title", "category", "subcategory", "colour", "gender", "sizes", "brand", "image"):
        items[name] = items[name].fillna("").astype(str).str.strip() if name in items else ""
    items["gender"] = items["gender"].map(lambda g: _GENDERS.get(g.lower(), g))
    items["price"] = pd.to_numeric(items.get("price"), errors="coerce").astype(float)
    items["sizes"] = items["sizes"].map(lambda s: "|".join(split_sizes(s)))
    root = os.path.abspath(image_root)
    items["image"] = [_absolute(path, root) for path in items["image"]]
    for column in raw.columns:
        items[ATTRIBUTE_PREFIX + str(column)] = parquet_safe(raw[column])
    return items[list(ITEM_FIELDS) + [c for c in items.columns if c.startswith(ATTRIBUTE_PREFIX)]]


def parquet_safe(column: pd.Series) -> pd.Series:
    """A column Parquet can store: mixed numbers and text (e.g. sizes 38 and "XL") become text."""
    if column.dtype != object:
        return column
    kinds = {type(v) for v in column.dropna()}
    if len(kinds) <= 1:
        return column
    return column.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))


def _absolute(image: str, root: str) -> str:
    if not image or "://" in image:
        return image
    return os.path.normpath(os.path.join(root, image))


def split_sizes(value) -> list[str]:
    """Sizes written as ``S|M|L``, ``S,M,L`` or ``S;M;L``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value)
    for separator in (",", ";"):
        text = text.replace(separator, "|")
    return [s.strip() for s in text.split("|") if s.strip()]


def _plain(value):
    """Attribute values as JSON-friendly scalars (NaN and infinities become None)."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value
