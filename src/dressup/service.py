"""One store's capabilities behind a single object, kept current for a long-running server.

>>> shop = Shop("stores/mango")                                   # doctest: +SKIP
>>> shop.similar_to_item("41085800-02", k=5)                       # doctest: +SKIP

A `Shop` loads the store, its event database, the recommender, the outfit model and the tagger once,
and notices when another process (``dressup index``, a catalog edit in another server worker) has
written a new store generation. It is safe to share between threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import editing
from .catalog import Item
from .errors import DressUpError
from .filters import Filters
from .images import MAX_PIXELS, load_image
from .outfits import CompletedOutfit, NoOutfitModelError, OutfitModel
from .recommenders import Recommendation, Recommender, RecommenderConfig
from .store import Match, Store, read_manifest
from .tagging import DEFAULT_TAGGER, Tag, Tagger
from .users import EventStore


class UnknownUserError(DressUpError, KeyError):
    """A user id the database does not hold."""

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class Facets:
    """What the catalog's items can be filtered on: the values of the main fields and the price range."""

    values: dict[str, list[str]]
    min_price: float | None
    max_price: float | None


class Shop:
    """A store opened for serving: search, tagging, users, recommendations, outfits and catalog edits."""

    FACET_FIELDS = ("category", "gender", "colour", "subcategory", "brand")

    def __init__(self, store_path: str | Path, database_url: str | None = None, recommender_config: RecommenderConfig | None = None,
                 tagger: str | Path = DEFAULT_TAGGER, max_pixels: int = MAX_PIXELS, check_every: float = 1.0):
        self.path = Path(store_path)
        self.max_pixels = max_pixels
        self.check_every = check_every
        self._recommender_config = recommender_config
        self._tagger_name = tagger
        self._lock = threading.RLock()
        self._store = Store.open(self.path)
        self._checked_at = time.monotonic()
        self.events = EventStore.open(self.path, url=database_url)
        self._recommender: Recommender | None = None
        self._outfits: OutfitModel | None | bool = None  # False: the store has no outfit model
        self._tagger: Tagger | None = None
        self._facets: Facets | None = None
        self._items: dict[int, Item] = {}
        self._records: list[dict] | None = None
        self.memo: dict = {}  # values derived from the current store generation, for the layers above (dropped on reload)

    # -- keeping current ----------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The current generation of the store (re-read when another process has written a new one)."""
        now = time.monotonic()
        if now - self._checked_at >= self.check_every:
            self._checked_at = now
            if read_manifest(self.path)["generation"] != self._store.manifest["generation"]:
                self.reload()
        return self._store

    def reload(self) -> None:
        """Open the store's current generation and drop everything derived from the old one."""
        with self._lock:
            store = Store.open(self.path)
            if store.manifest["generation"] == self._store.manifest["generation"]:
                return
            self._store, self._recommender, self._outfits, self._facets = store, None, None, None
            self._items, self._records, self.memo = {}, None, {}

    # -- catalog ------------------------------------------------------------------------------
    def item(self, item_id: str) -> Item:
        return self.item_at(self.store.row(item_id))

    def item_at(self, row: int) -> Item:
        """The item in a row of the current store (kept once read: a search result's items are read again and again)."""
        items = self._items
        if row not in items:
            if self._records is None:  # one pass over the table is far cheaper than a pandas row lookup per item
                self._records = self.store.items.to_dict("records")
            items[row] = Item.from_row(self._records[row])
        return items[row]

    def items(self, filters: Filters | None = None, limit: int = 24, offset: int = 0) -> tuple[int, list[Item]]:
        """A page of the catalog (in catalog order) and the number of items that pass the filters."""
        store = self.store
        allowed = store.filter_index.mask(filters)
        rows = np.arange(len(store)) if allowed is None else np.flatnonzero(allowed)
        page = store.items.iloc[rows[offset : offset + limit]]
        return len(rows), [Item.from_row(row) for row in page.to_dict("records")]

    def facets(self) -> Facets:
        """Values to offer in filter menus (the 200 most frequent of each field), cached per store generation."""
        store = self.store
        if self._facets is None:
            values = {}
            for name in self.FACET_FIELDS:
                counts = store.items[name].astype(str).replace({"nan": "", "None": ""}).value_counts()
                values[name] = sorted(v for v in counts.index[:200] if v)
            prices = pd.to_numeric(store.items["price"], errors="coerce").dropna()
            self._facets = Facets(values, float(prices.min()) if len(prices) else None, float(prices.max()) if len(prices) else None)
        return self._facets

    def add_item(self, fields: Mapping, image: bytes) -> Item:
        item = editing.add_item(self.path, fields, image, max_pixels=self.max_pixels)
        self.reload()
        return item

    def update_item(self, item_id: str, fields: Mapping, image: bytes | None = None) -> Item:
        item = editing.update_item(self.path, item_id, fields, image, max_pixels=self.max_pixels)
        self.reload()
        return item

    def remove_item(self, item_id: str) -> None:
        editing.remove_item(self.path, item_id)
        self.reload()

    # -- search and tags ----------------------------------------------------------------------
    def similar_to_item(self, item_id: str, k: int = 10, filters: Filters | None = None) -> list[Match]:
        return self.store.similar(item=item_id, k=k, filters=filters)

    def similar_to_image(self, image: bytes, k: int = 10, filters: Filters | None = None) -> list[Match]:
        return self.store.similar(image=load_image(image, max_pixels=self.max_pixels), k=k, filters=filters)

    def tags(self, image: bytes) -> dict[str, Tag]:
        photo = load_image(image, max_pixels=self.max_pixels)
        if self._tagger is None:
            with self._lock:
                self._tagger = self._tagger or Tagger.load(self._tagger_name)
        return self._tagger.tag([photo])[0]

    # -- users --------------------------------------------------------------------------------
    def register(self, user_id: str | None = None) -> tuple[str, str]:
        return self.events.register(user_id)

    def user_for_token(self, token: str) -> str | None:
        return self.events.user_for_token(token)

    def add_event(self, user_id: str, item_id: str, kind: str, value: float | None = None) -> None:
        """Record what a user did with an item; an item the catalog does not hold is an `UnknownItemError`."""
        self.store.row(item_id)
        self.events.add(user_id, item_id, kind, value)

    def user(self, user_id: str) -> dict:
        if not self.events.has_user(user_id):
            raise UnknownUserError(f"unknown user {user_id!r}")
        return self.events.summary(user_id)

    def forget(self, user_id: str) -> int:
        return self.events.forget(user_id)

    # -- recommendations and outfits ----------------------------------------------------------
    @property
    def recommender(self) -> Recommender:
        store = self.store
        with self._lock:
            if self._recommender is None or self._recommender.store is not store:
                self._recommender = Recommender(store, self.events, self._recommender_config)
            return self._recommender

    def recommend(self, user_id: str, k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        return self.recommender.recommend(user_id, k, filters)

    def recommend_from_items(self, liked: Sequence[str], k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        return self.recommender.recommend_from_items(liked, k, filters)

    @property
    def outfit_model(self) -> OutfitModel:
        """The store's outfit model; `NoOutfitModelError` when none was trained for it."""
        store = self.store
        with self._lock:
            if self._outfits is None or (self._outfits is not False and self._outfits.store is not store):
                try:
                    self._outfits = OutfitModel.load(store)
                except NoOutfitModelError:
                    self._outfits = False
            if self._outfits is False:
                raise NoOutfitModelError(f"{self.path}: this store has no outfit model; train one with `dressup outfits train`")
            return self._outfits

    def outfits(self, items: Sequence[str], n: int = 3, filters: Filters | None = None,
                budget: float | None = None) -> list[CompletedOutfit]:
        return self.outfit_model.complete(list(items), n=n, filters=filters, budget=budget)

    def close(self) -> None:
        self.events.close()
