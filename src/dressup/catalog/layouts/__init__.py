"""Catalog layouts, recognised by their columns: one class per layout, registered in `LAYOUTS`.

A new layout is one file here with a `CatalogLayout` subclass, plus its line in `LAYOUTS`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ...errors import first_line
from ..items import ATTRIBUTE_PREFIX, CatalogError
from .base import CatalogLayout, CatalogSource
from .fashion_product_images import FashionProductImages
from .generic import Generic
from .hm import HM
from .mango import Mango

#: Every layout by name, tried in this order; `Generic`, the layout of last resort, comes last.
LAYOUTS: dict[str, type[CatalogLayout]] = {layout.name: layout for layout in (FashionProductImages, HM, Mango, Generic)}
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def layout_named(name: str) -> type[CatalogLayout]:
    if name not in LAYOUTS:
        raise CatalogError(f"unknown layout {name!r}; use one of auto, {', '.join(LAYOUTS)}")
    return LAYOUTS[name]


def detect_layout(source: CatalogSource) -> tuple[type[CatalogLayout], Path]:
    """The layout of a catalog folder or table, by its columns (or the one ``source.layout`` names), and the table."""
    path = Path(source.path)
    if not path.exists():
        raise CatalogError(f"{path}: no such file or folder")
    wanted = None if source.layout == "auto" else layout_named(source.layout)
    if path.is_file():
        return wanted or _layout_of_table(table_columns(path), source), path
    tables = sorted(p for p in path.iterdir() if p.suffix.lower() in TABLE_SUFFIXES and p.is_file())
    headers = {table: _header_or_none(table) for table in tables}
    found = [(layout, table) for table in tables for layout in ([wanted] if wanted else LAYOUTS.values())
             if headers[table] is not None and layout.matches(headers[table], source)]
    specific = [(layout, table) for layout, table in found if layout is not Generic]
    if len(specific) > 1:  # several tables look like one layout (articles.csv and a copy): the usual file name decides
        specific = [pair for pair in specific if pair[1].name == pair[0].table] or specific[:1]
    chosen = specific or [pair for pair in found if pair[0] is Generic]
    if not chosen:  # the named layout's own table, or the only table: the layout's reader says what it lacks
        layout = wanted or Generic
        chosen = [(layout, t) for t in tables if t.name == layout.table] or [(layout, t) for t in tables[:1] if len(tables) == 1]
    if len(chosen) == 1 or (chosen and wanted is not None):
        return chosen[0]
    expected = ", ".join(f"{layout.table} ({layout.name})" for layout in LAYOUTS.values() if layout.table)
    raise CatalogError(
        f"{path}: cannot tell the catalog table among {len(tables)} table(s) ({', '.join(t.name for t in tables) or 'none'}); "
        f"expected {expected}, or exactly one table with an id and an image column")


def layout_of_items(columns: Iterable[str], name: str | None = None) -> type[CatalogLayout]:
    """The layout an item table was read from: the one named (as a store's manifest records it), else the first whose
    identifying columns are among the table's attributes."""
    if name in LAYOUTS:
        return LAYOUTS[name]
    attributes = [c[len(ATTRIBUTE_PREFIX):] for c in columns if c.startswith(ATTRIBUTE_PREFIX)]
    return next((layout for layout in LAYOUTS.values() if layout is not Generic and layout.matches(attributes)), Generic)


def table_columns(path: Path) -> list[str]:
    """The column names of a CSV or Parquet table, read from its header alone."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, OSError) as error:
        raise CatalogError(f"{path}: malformed table ({first_line(error)})") from None


def _header_or_none(path: Path) -> list[str] | None:
    try:
        return table_columns(path)
    except CatalogError:
        return None


def _layout_of_table(columns: list[str], source: CatalogSource) -> type[CatalogLayout]:
    return next((layout for layout in LAYOUTS.values() if layout is not Generic and layout.matches(columns, source)), Generic)


__all__ = ["LAYOUTS", "CatalogLayout", "CatalogSource", "FashionProductImages", "Generic", "HM", "Mango", "detect_layout",
           "layout_named", "layout_of_items", "table_columns"]
