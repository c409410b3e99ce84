"""Stylists' outfits: reading them, mapping them onto a store, and the slots an outfit is made of."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DressUpError
from ..store import Store

# (outfit column, item column) of the outfit tables we recognise, the Mango datathon's first
OUTFIT_COLUMNS = [("cod_outfit", "cod_modelo_color"), ("outfit", "item"), ("outfit_id", "item_id")]


class OutfitDataError(DressUpError, ValueError):
    """An outfit table that cannot be read or matched to the store."""


@dataclass
class OutfitTable:
    """Outfits as lists of store rows, plus what could not be matched."""

    ids: list[str]
    rows: list[np.ndarray]
    unknown_items: int = 0
    dropped: int = 0  # outfits left with fewer than 2 known items

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, positions) -> OutfitTable:
        return OutfitTable([self.ids[i] for i in positions], [self.rows[i] for i in positions])

    def usage(self, n_items: int) -> np.ndarray:
        """How many outfits each store row appears in."""
        counts = np.zeros(n_items, np.int64)
        for rows in self.rows:
            counts[rows] += 1
        return counts


def read_outfits(path: str | Path, store: Store) -> OutfitTable:
    """Read an (outfit id, item id) table; items the store lacks are counted and left out."""
    path = Path(path)
    if path.is_dir():
        path = path / "outfits.csv"
    try:
        table = pd.read_csv(path, dtype=str)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise OutfitDataError(f"{path}: cannot read the outfit table ({str(error).splitlines()[0]})") from None
    columns = next(((o, i) for o, i in OUTFIT_COLUMNS if {o, i} <= set(table.columns)), None)
    if columns is None:
        raise OutfitDataError(
            f"{path}: expected columns cod_outfit, cod_modelo_color (Mango) or outfit, item; found {', '.join(table.columns)}"
        )
    table = table[list(columns)].dropna()
    table.columns = ["outfit", "item"]
    known = pd.Series(store.rows_of(table["item"].str.strip()), index=table.index)
    unknown = int((known < 0).sum())
    table = table.assign(row=known)[known >= 0]
    ids, rows, dropped = [], [], 0
    for outfit, group in table.groupby("outfit", sort=False):
        members = np.unique(group["row"].to_numpy())
        if len(members) < 2:
            dropped += 1
            continue
        ids.append(str(outfit))
        rows.append(members)
    if not rows:
        raise OutfitDataError(f"{path}: no outfit has two items that the store holds")
    return OutfitTable(ids, rows, unknown_items=unknown, dropped=dropped)


def item_slots(store: Store, state=None) -> np.ndarray:
    """Each row's slot (the part of an outfit it fills): the column its catalog layout names for it (Mango: the
    product family), else the subcategory, else the category."""
    state = state or store.state
    for column in (store.layout.role_column("slot"), "subcategory", "category"):
        if column in state.columns:
            values = pd.Series(state.column(column), dtype=object)
            if values.notna().mean() > 0.5:
                return values.fillna("(unknown)").astype(str).to_numpy()
    return np.full(state.rows, "(any)", dtype=object)


def slot_templates(outfits: OutfitTable, slots: np.ndarray) -> Counter:
    """How often each combination of slots makes an outfit (e.g. Dresses + Footwear + Bags)."""
    return Counter(tuple(sorted(slots[rows])) for rows in outfits.rows)
