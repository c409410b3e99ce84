"""One store's capabilities behind a single object, kept current for a long-running server.

>>> shop = Shop("stores/mango")                                   # doctest: +SKIP
>>> shop.similar_to_item("41085800-02", k=5)                       # doctest: +SKIP

A `Shop` loads the store, its event database, the recommender, the outfit model and the tagger once,
and notices when another process (``dressup index``, a catalog edit in another server worker) has
written a new store generation. It is safe to share between threads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import editing
from .catalog import Item
from .filters import Filters
from .images import MAX_PIXELS, UPLOAD_FORMATS, load_image
from .outfits import CompletedOutfit, NoOutfitModelError, OutfitModel
from .recommenders import Recommendation, Recommender, RecommenderConfig
from .store import Match, Store, read_manifest
from .tagging import DEFAULT_TAGGER, Tag, Tagger
from .users import EventStore


@dataclass(frozen=True)
class Facets:
    """What the catalog's items can be filtered on: the values of the main fields and the price range."""

    values: dict[str, list[str]]
    min_price: float | None
    max_price: float | None


class Generation:
    """One store generation and what is derived from it, replaced as a whole when the store changes, so that a
    request never mixes rows of one generation with items of another."""

    def __init__(self, store: Store):
        self.store = store
        self.items = [Item.from_row(row) for row in store.items.to_dict("records")]  # one pass: cheap per item
        self.memo: dict = {}  # values the layers above derive from this generation (e.g. serialised items)
        self.facets: Facets | None = None
        self.recommender: Recommender | None = None
        self.outfits: OutfitModel | None | bool = None  # False: the store has no outfit model

    @property
    def name(self) -> str:
        return self.store.manifest["generation"]


class Shop:
    """A store opened for serving: search, tagging, users, recommendations, outfits and catalog edits."""

    FACET_FIELDS = ("category", "gender", "colour", "subcategory", "brand")

    def __init__(self, store_path: str | Path, database_url: str | None = None, recommender_config: RecommenderConfig | None = None,
                 tagger: str | Path = DEFAULT_TAGGER, max_pixels: int = MAX_PIXELS, check_every: float = 1.0, watch: bool = False):
        """``watch``: look for new generations in a background thread (servers), so that no request waits for a
        reload; otherwise the check happens on access, at most every ``check_every`` seconds."""
        self.path = Path(store_path)
        self.max_pixels = max_pixels
        self.check_every = check_every
        self._recommender_config = recommender_config
        self._tagger_name = tagger
        self._lock = threading.RLock()
        self._generation = Generation(Store.open(self.path))
        self._checked_at = time.monotonic()
        self.events = EventStore.open(self.path, url=database_url)
        self._tagger: Tagger | None = None
        self._watching = watch
        if watch:
            threading.Thread(target=self._watch, name="dressup-store-watch", daemon=True).start()

    # -- keeping current ----------------------------------------------------------------------
    @property
    def generation(self) -> Generation:
        """The current generation; take it once per request and use it throughout."""
        if not self._watching and time.monotonic() - self._checked_at >= self.check_every:
            self._checked_at = time.monotonic()
            self.reload()
        return self._generation

    @property
    def store(self) -> Store:
        return self.generation.store

    def reload(self) -> None:
        """Open the store's current generation, if it is new, and drop everything derived from the old one."""
        with self._lock:
            if read_manifest(self.path)["generation"] != self._generation.name:
                self._generation = Generation(Store.open(self.path))  # built whole, then swapped in one assignment

    def _watch(self) -> None:
        while True:
            time.sleep(self.check_every)
            try:
                self.reload()
            except Exception:  # a generation being written, a damaged one ...: the current one keeps serving
                logging.getLogger(__name__).exception("could not load the new store generation")

    # -- catalog ------------------------------------------------------------------------------
    def item(self, item_id: str) -> Item:
        generation = self.generation
        return generation.items[generation.store.row(item_id)]

    def items(self, filters: Filters | None = None, limit: int = 24, offset: int = 0) -> tuple[int, list[Item]]:
        """A page of the catalog (in catalog order) and the number of items that pass the filters."""
        generation = self.generation
        allowed = generation.store.filter_index.mask(filters)
        rows = np.arange(len(generation.store)) if allowed is None else np.flatnonzero(allowed)
        return len(rows), [generation.items[row] for row in rows[offset : offset + limit]]

    def facets(self) -> Facets:
        """Values to offer in filter menus (the 200 most frequent of each field), cached per store generation."""
        generation = self.generation
        if generation.facets is None:
            items, values = generation.store.items, {}
            for name in self.FACET_FIELDS:
                counts = items[name].astype(str).replace({"nan": "", "None": ""}).value_counts()
                values[name] = sorted(v for v in counts.index[:200] if v)
            prices = pd.to_numeric(items["price"], errors="coerce").dropna()
            generation.facets = Facets(values, float(prices.min()) if len(prices) else None, float(prices.max()) if len(prices) else None)
        return generation.facets

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
        return self.store.similar(image=self._photo(image), k=k, filters=filters)

    def tags(self, image: bytes) -> dict[str, Tag]:
        photo = self._photo(image)
        if self._tagger is None:
            with self._lock:
                self._tagger = self._tagger or Tagger.load(self._tagger_name)
        return self._tagger.tag([photo])[0]

    def _photo(self, data: bytes):
        return load_image(data, max_pixels=self.max_pixels, formats=UPLOAD_FORMATS)

    # -- users --------------------------------------------------------------------------------
    def register(self, user_id: str | None = None) -> tuple[str, str]:
        return self.events.register(user_id)

    def new_token(self, user_id: str) -> str:
        return self.events.new_token(user_id)

    def user_for_token(self, token: str) -> str | None:
        return self.events.user_for_token(token)

    def add_event(self, user_id: str, item_id: str, kind: str, value: float | None = None) -> None:
        """Record what a user did with an item; an item the catalog does not hold is an `UnknownItemError`."""
        self.store.row(item_id)
        self.events.add_for_user(user_id, item_id, kind, value)

    def user(self, user_id: str) -> dict:
        return self.events.summary(user_id)

    def forget(self, user_id: str) -> int:
        """Delete a user and their events; the feeds stop using them from the next request (refitted in the background)."""
        gone = self.events.forget(user_id)
        if (recommender := self.generation.recommender) is not None:  # none yet: its first fit will not see them
            recommender.refit_soon()
        return gone

    # -- recommendations and outfits ----------------------------------------------------------
    @property
    def recommender(self) -> Recommender:
        generation = self.generation
        with self._lock:
            if generation.recommender is None:
                generation.recommender = Recommender(generation.store, self.events, self._recommender_config)
            return generation.recommender

    def recommend(self, user_id: str, k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        return self.recommender.recommend(user_id, k, filters)

    def recommend_from_items(self, liked: Sequence[str], k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        return self.recommender.recommend_from_items(liked, k, filters)

    @property
    def outfit_model(self) -> OutfitModel:
        """The store's outfit model; `NoOutfitModelError` when none was trained for it."""
        generation = self.generation
        with self._lock:
            if generation.outfits is None:
                try:
                    generation.outfits = OutfitModel.load(generation.store)
                except NoOutfitModelError:
                    generation.outfits = False
        if generation.outfits is False:
            raise NoOutfitModelError(f"{self.path}: this store has no outfit model; train one with `dressup outfits train`")
        return generation.outfits

    def outfits(self, items: Sequence[str], n: int = 3, filters: Filters | None = None,
                budget: float | None = None) -> list[CompletedOutfit]:
        return self.outfit_model.complete(list(items), n=n, filters=filters, budget=budget)

    def close(self) -> None:
        self.events.close()
