"""`CatalogLayout`: how one kind of catalog table maps onto the item schema (see `dressup.catalog.items`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pandas as pd

from ..items import ATTRIBUTE_PREFIX, CatalogError

#: Column names that hold an item's image path, in order of preference.
IMAGE_COLUMNS = ("image", "image_path", "image_file", "filename", "file", "path", "image_url")


@dataclass
class CatalogSource:
    """Where a catalog comes from and how to read it: the table, its layout and column options."""

    path: Path
    layout: str = "auto"
    columns: dict[str, str] = field(default_factory=dict)  # item field -> column, for generic tables
    image_root: Path | None = None


class CatalogLayout(ABC):
    """One kind of catalog table, recognised by its columns, mapped onto the item schema by `items`.

    ``columns``: a table holding all of them is of this layout. ``table``: the file a catalog folder of this
    layout usually holds. ``text_columns``: columns read as text (ids with meaningful leading zeros).
    ``roles``: which of the source's columns play a part beyond the item schema: ``variant`` (the same product
    in other colours), ``slot`` (the part of an outfit an item fills), ``outfit_features`` (what describes an
    item to the outfit model).
    """

    name: ClassVar[str]
    columns: ClassVar[tuple[str, ...]] = ()
    images_from_ids: ClassVar[bool] = False  # images/ID.jpg: a table that names its images itself is generic
    table: ClassVar[str | None] = None
    text_columns: ClassVar[tuple[str, ...]] = ()
    roles: ClassVar[dict[str, str | tuple[str, ...]]] = {}

    @classmethod
    def matches(cls, columns: Iterable[str], source: CatalogSource | None = None) -> bool:
        """Whether a table with these columns is of this layout."""
        columns = set(map(str, columns))
        if cls.images_from_ids and {c.lower() for c in columns} & set(IMAGE_COLUMNS):
            return False
        return set(cls.columns) <= columns

    @classmethod
    @abstractmethod
    def items(cls, raw: pd.DataFrame, path: Path, source: CatalogSource) -> pd.DataFrame:
        """The item fields (`ITEM_FIELDS`) of each row of ``raw``, read from ``path``; attributes are added after."""

    @classmethod
    def role_column(cls, role: str) -> str | None:
        """The item-table column (``attr:...``) that plays ``role``, if the layout has one."""
        column = cls.roles.get(role)
        return ATTRIBUTE_PREFIX + column if isinstance(column, str) else None

    @classmethod
    def role_columns(cls, role: str) -> list[str]:
        """The item-table columns that play a role held by several columns (``outfit_features``)."""
        return [ATTRIBUTE_PREFIX + c for c in cls.roles.get(role, ())]


def require(raw: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> None:
    """A clear error naming the columns a layout needs and the table lacks."""
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise CatalogError(f"{path}: missing column(s) {', '.join(missing)}; the table has {', '.join(map(str, raw.columns))}")


def text_column(raw: pd.DataFrame, column: str) -> pd.Series:
    """A column as text, empty where missing (or where the table has no such column)."""
    return raw.get(column, pd.Series("", index=raw.index)).fillna("").astype(str)
