"""`Shop`: the one place where a store is wired to its capabilities, for the CLI, the API and Python users.

>>> shop = Shop("stores/mango")                                            # doctest: +SKIP
>>> shop.generation.similar_to_item("41085800-02", k=5)                    # doctest: +SKIP

A `Shop` opens the store, and on first use its event database, recommender, outfit model and tagger. Everything
that depends on the catalog lives in a `Generation`, replaced as a whole when another process (``dressup index``,
a catalog edit in another server worker) writes a new store generation: take ``shop.generation`` once per
request and use it throughout, so that a request never mixes one generation's rows with another's items.
A shop is safe to share between threads.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .catalog import Item, split_sizes
from .errors import DressUpError
from .experiments import NO_EXPERIMENTS, Experiment, Experiments, Variant, experiment_report
from .images import MAX_PIXELS, UPLOAD_FORMATS, ImageInput, load_image
from .looks import LOOK_SIDE
from .merchandising import NO_RULES, Ranked, Rules
from .outfits import CompatibilityModel, NoOutfitModelError, OutfitModel
from .recommenders import Recommendation, Recommender, RecommenderConfig, create_recommender
from .recommenders.base import HISTORY_EVENTS
from .recommenders.signals import liked_items
from .store import Filters, GarmentMatches, LiveState, Match, SearchResults, Store, editing, read_manifest
from .store.generations import remove_unused_generations, store_id
from .tagging import DEFAULT_TAGGER, Tag, Tagger, ZeroShotTagger, checked_labels
from .users import EventStore
from .users.database import TOKEN_LIFETIME
from .users.engines import DATABASE_FILE
from .users.settings import StoreSettings, exposures, later_events, record_exposures

FACET_FIELDS = ("category", "gender", "colour", "subcategory", "brand")


@dataclass(frozen=True)
class Facets:
    """What the catalog's items can be filtered on: the values of the main fields and the price range."""

    values: dict[str, list[str]]
    min_price: float | None
    max_price: float | None
    sizes: list[str] = ()  # the sizes items are sold in, the most common first (none: a size filter cannot apply)
    outfits: bool = False  # whether the store has an outfit model (complete outfits, complete the look)


class Capabilities:
    """What one base generation of the store serves from, built on first use and kept while the base lasts: the
    recommender (fitted on the events, not refitted for catalog edits) and the outfit model."""

    def __init__(self, store: Store, shop: Shop):
        self.store = store
        self.shop = shop
        self.lock = threading.Lock()
        self._recommender: Recommender | None = None
        self._variants: dict[tuple[str, ...], Recommender] = {}  # experiments' variants with feed settings of their own
        self._compatibility: CompatibilityModel | None | bool = None  # False: the store has no outfit model

    @property
    def recommender(self) -> Recommender:
        with self.lock:
            if self._recommender is None:
                self._recommender = create_recommender("dressup", self.store, self.shop.events, self.shop.recommender_config)
            return self._recommender

    def recommender_for(self, settings: Sequence[str] = ()) -> Recommender:
        """The recommender with ``settings`` over the shop's own (an experiment's variant), built on first use."""
        if not settings:
            return self.recommender
        key = tuple(settings)
        with self.lock:
            if key not in self._variants:
                config = RecommenderConfig.parse(key, base=self.shop.recommender_config)
                self._variants[key] = create_recommender("dressup", self.store, self.shop.events, config)
            return self._variants[key]

    def recommenders(self) -> list[Recommender]:
        """Every recommender built so far."""
        with self.lock:
            return [r for r in (self._recommender, *self._variants.values()) if r is not None]

    def compatibility(self) -> CompatibilityModel:
        with self.lock:
            if self._compatibility is None:
                try:
                    self._compatibility = OutfitModel.load(self.store).compatibility
                except NoOutfitModelError:
                    self._compatibility = False
        if self._compatibility is False:
            raise NoOutfitModelError(f"{self.store.path}: this store has no outfit model; train one with `dressup outfits train`")
        return self._compatibility


class Generation:
    """The catalog as one request sees it: a store's state (base generation and journal changes up to one point),
    and the capabilities that serve from it."""

    def __init__(self, capabilities: Capabilities, state: LiveState):
        self.capabilities = capabilities
        self.store = capabilities.store
        self.state = state

    @property
    def name(self) -> str:
        """The base generation, and the last journal change taken in."""
        return f"{self.store.manifest['generation']}+{self.state.seq}"

    # -- catalog -------------------------------------------------------------------------------
    def item(self, item_id: str) -> Item:
        return self.state.item(item_id)

    def page(self, filters: Filters | None = None, limit: int = 24, offset: int = 0) -> tuple[int, list[Item]]:
        """A page of the catalog (in catalog order) and the number of items that pass the filters."""
        allowed = self.state.mask(filters)
        rows = np.arange(self.state.rows) if allowed is None else np.flatnonzero(allowed)
        return len(rows), [self.state.item_at(row) for row in rows[offset : offset + limit]]

    def facets(self) -> Facets:
        """Values to offer in filter menus (the 200 most frequent of each field) and the price range."""
        def make():
            alive, values = self.state.alive, {}
            for name in FACET_FIELDS:
                column = pd.Series(self.state.column(name)[alive], dtype=object)
                counts = column.astype(str).replace({"nan": "", "None": ""}).value_counts()
                values[name] = sorted(v for v in counts.index[:200] if v)
            prices = pd.to_numeric(pd.Series(self.state.column("price")[alive]), errors="coerce").dropna()
            sizes = pd.Series([size for value in pd.Series(self.state.column("sizes")[alive]).dropna().unique()
                               for size in split_sizes(value)], dtype=object).value_counts().index[:40].tolist()
            return Facets(values, float(prices.min()) if len(prices) else None, float(prices.max()) if len(prices) else None,
                          sizes, self.has_outfit_model())
        return self.state.derived("facets", make)

    def has_outfit_model(self) -> bool:
        try:
            self.capabilities.compatibility()
        except NoOutfitModelError:
            return False
        return True

    # -- search --------------------------------------------------------------------------------
    def photo(self, data: ImageInput, look: bool = False) -> Image.Image:
        """An uploaded photo decoded once, within the shop's pixel limit and the upload formats, at the size this
        generation's encoder needs (larger with ``look``, whose garments are cut from it)."""
        spec = self.store.encoder.spec
        size = 2 * LOOK_SIDE if look else spec.resize_size or spec.input_size
        return load_image(data, max_pixels=self.capabilities.shop.max_pixels, draft_size=size, formats=UPLOAD_FORMATS)

    def similar_to_item(self, item_id: str, k: int = 10, filters: Filters | None = None, user: str | None = None) -> Ranked:
        """The k items most similar to a catalog item, after the business rules of the ``similar`` surface (and of
        the experiments' variants ``user`` is in)."""
        rules, assigned = self.rules("similar", user)
        found = self.store.similar(item=item_id, k=k + rules.extra, filters=rules.filters(filters), state=self.state)
        return self._ranked(rules.apply(self.state, found, k, filters, _pinned_match, excluded=[item_id]), assigned)

    def similar_to_photo(self, photo: ImageInput, k: int = 10, filters: Filters | None = None,
                         user: str | None = None) -> Ranked:
        """Similar items for a photo (decoded by `photo`, or a path)."""
        rules, assigned = self.rules("similar", user)
        found = self.store.similar(image=photo, k=k + rules.extra, filters=rules.filters(filters), state=self.state)
        return self._ranked(rules.apply(self.state, found, k, filters, _pinned_match), assigned)

    def look(self, photo: ImageInput, k: int = 10, filters: Filters | None = None,
             user: str | None = None) -> list[GarmentMatches]:
        """Shop the look: each garment of a photo (decoded by ``photo(..., look=True)``, or a path) with its k most
        similar items (the ``similar`` surface's rules apply to each)."""
        rules, _ = self.rules("similar", user)
        garments = self.store.look(photo, k=k + rules.extra, filters=rules.filters(filters), state=self.state)
        return [replace(g, matches=rules.apply(self.state, g.matches, k, filters, _pinned_match)) for g in garments]

    def search(self, text: str | None, photo: ImageInput | None = None, k: int = 10, filters: Filters | None = None,
               mode: str = "hybrid", user: str | None = None) -> SearchResults:
        """Text search, alone or modifying a photo (`Store.search_results`), after the ``search`` surface's rules."""
        rules, assigned = self.rules("search", user)
        found = self.store.search_results(text, photo, k=k + rules.extra, filters=rules.filters(filters), mode=mode,
                                          state=self.state)
        # a pin also obeys the filters the words became ("under 50", "for men")
        return replace(found, matches=self._ranked(rules.apply(self.state, found.matches, k, found.filters,
                                                               _pinned_match), assigned))

    # -- business rules and experiments ------------------------------------------------------
    def rules(self, surface: str, user: str | None = None) -> tuple[Rules, list[tuple[Experiment, Variant]]]:
        """The rules a request on ``surface`` is served with: the store's, plus those of the user's variants."""
        rules, experiments = self.capabilities.shop.merchandising()
        assigned = experiments.assigned(user, surface)
        for _, variant in assigned:
            rules = rules + variant.rules
        return rules.on(surface).usable(self.state), assigned

    @staticmethod
    def _ranked(ranked: Ranked, assigned) -> Ranked:
        ranked.assigned = assigned
        return ranked

    # -- feeds ---------------------------------------------------------------------------------
    @property
    def recommender(self) -> Recommender:
        return self.capabilities.recommender

    def recommend(self, user_id: str, k: int = 12, filters: Filters | None = None) -> Ranked:
        """The user's feed, after the ``feed`` surface's rules (and their experiments' variants')."""
        rules, assigned = self.rules("feed", user_id)
        settings = [setting for _, variant in assigned for setting in variant.recommender]
        recommender = self.capabilities.recommender_for(settings)
        feed = recommender.recommend(user_id, k + rules.extra, rules.filters(filters))
        return self._ranked(rules.apply(self.state, feed, k, filters, _pinned_recommendation), assigned)

    def recommend_from_items(self, liked: Sequence[str], k: int = 12, filters: Filters | None = None) -> Ranked:
        """A feed for someone who likes these items; none: a new visitor's feed (popular, diversified)."""
        rules, assigned = self.rules("feed")
        asked, allowed = k + rules.extra, rules.filters(filters)
        if not liked:
            feed = self.recommender.recommend_new_visitor(asked, allowed)
        else:
            feed = self.recommender.recommend_from_items(liked, asked, allowed)
        return self._ranked(rules.apply(self.state, feed, k, filters, _pinned_recommendation, excluded=liked), assigned)

    # -- outfits -------------------------------------------------------------------------------
    @property
    def outfit_model(self) -> OutfitModel:
        """The store's outfit model over this state; `NoOutfitModelError` when none was trained for the store."""
        compatibility = self.capabilities.compatibility()
        return self.state.derived("outfit model", lambda: OutfitModel(self.store, compatibility, self.state))

    def outfits(self, items: Sequence[str], n: int = 3, filters: Filters | None = None, budget: float | None = None,
                images: Sequence[ImageInput] = (), user: str | None = None) -> Ranked:
        """Completed outfits, after the ``outfits`` surface's rules: hidden items are never proposed, and boosts and
        buries reorder the outfits by the items they propose."""
        rules, assigned = self.rules("outfits", user)
        outfits = self.outfit_model.complete(list(items), n=n, filters=rules.filters(filters), budget=budget,
                                             images=images)
        return self._ranked(rules.order_outfits(self.state, outfits, lambda outfit: outfit.proposed), assigned)


def _pinned_match(item_id: str, row: int) -> Match:
    return Match(item_id, 0.0, row)


def _pinned_recommendation(item_id: str, row: int) -> Recommendation:
    return Recommendation(item_id, 0.0, "pinned")


class Shop:
    """A store opened for serving: search, tagging, users, recommendations, outfits and catalog edits."""

    def __init__(self, store_path: str | Path, database_url: str | None = None,
                 recommender_config: RecommenderConfig | None = None,
                 tagger: str | Path = DEFAULT_TAGGER, max_pixels: int = MAX_PIXELS, check_every: float = 1.0,
                 watch: bool = False, compact_after: int | None = None, token_lifetime: timedelta = TOKEN_LIFETIME):
        """``database_url``: users, events and the catalog journal (default: STORE/users.sqlite, created on first use).
        ``watch``: look for new generations and catalog edits in a background thread (servers), so that no request
        waits for a reload; otherwise the check happens on access, at most every ``check_every`` seconds.
        ``compact_after``: when the journal holds this many changes, fold it into a new base in a process of its own.
        ``token_lifetime``: how long a user's access token works."""
        self.path = Path(store_path)
        self.max_pixels = max_pixels
        self.check_every = check_every
        self.recommender_config = recommender_config
        self._database_url = database_url
        self._tagger_name = tagger
        self._lock = threading.RLock()
        self._capabilities = Capabilities(Store.open(self.path, database_url), self)
        self._generation = Generation(self._capabilities, self._capabilities.store.state)
        self._checked_at = time.monotonic()
        self._events: EventStore | None = None
        self.token_lifetime = token_lifetime
        self._tagger: Tagger | None = None
        self._zero_shot: ZeroShotTagger | None = None
        self._watching = watch
        self.compact_after = compact_after
        self._compaction: subprocess.Popen | None = None
        self._merchandising: tuple[Rules, Experiments] = (NO_RULES, NO_EXPERIMENTS)
        self._settings_versions: dict[str, int] | None = None
        self._settings_checked = -float("inf")
        if watch:  # servers: the rules are read before the first request, then kept current by the watcher
            self._refresh_settings()
            threading.Thread(target=self._watch, name="dressup-store-watch", daemon=True).start()

    # -- keeping current ----------------------------------------------------------------------
    @property
    def generation(self) -> Generation:
        """The catalog as it is now; take it once per request and use it throughout."""
        if not self._watching and time.monotonic() - self._checked_at >= self.check_every:
            self._checked_at = time.monotonic()
            self.reload()
        return self._generation

    @property
    def store(self) -> Store:
        return self._capabilities.store

    def reload(self) -> None:
        """Take in what changed since: a new base generation (opened whole, then swapped in, the old one's capabilities
        dropped), or the journal's new changes (other processes' catalog edits)."""
        with self._lock:
            if read_manifest(self.path)["generation"] != self.store.manifest["generation"]:
                old = self._capabilities
                self._capabilities = Capabilities(Store.open(self.path, self._database_url), self)
                old.store.close()
                remove_unused_generations(self.path, keep={self.store.manifest["generation"]})  # if no one else reads it
            else:
                self.store.refresh()
            if self._generation.state is not self.store.state or self._generation.capabilities is not self._capabilities:
                self._generation = Generation(self._capabilities, self.store.state)

    def edited(self) -> Generation:
        """The generation after this process's own catalog edit (served at once)."""
        with self._lock:
            self._generation = Generation(self._capabilities, self.store.state)
        return self._generation

    def _watch(self) -> None:
        reported = None
        while True:
            time.sleep(self.check_every)
            try:
                self.reload()
                self._refresh_settings()
                self._compact_if_due()
                reported = None
            except Exception as error:  # a generation being written, a damaged one ...: the current one keeps serving
                if str(error) != reported:  # once per problem, not four times a second
                    reported = str(error)
                    logging.getLogger(__name__).error("could not take in the store's changes, serving what it "
                                                      "served before: %s", error, exc_info=not isinstance(error, DressUpError))

    def _compact_if_due(self) -> None:
        """Start a compaction in a process of its own when the journal has grown long (one at a time: a second one
        finds the store's writer lock taken and ends)."""
        pending = self.store.state.seq - self.store.manifest.get("journal_seq", 0)
        if self.compact_after is None or pending < self.compact_after:
            return
        if self._compaction is not None and self._compaction.poll() is None:
            return
        code = "import sys; from dressup.store.compaction import compact; compact(sys.argv[1], sys.argv[2] or None, wait=1.0)"
        self._compaction = subprocess.Popen([sys.executable, "-c", code, str(self.path), self._database_url or ""],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    # -- business rules and experiments -------------------------------------------------------
    def merchandising(self) -> tuple[Rules, Experiments]:
        """The store's business rules and running experiments, as last read from the database (servers: within
        ``check_every`` seconds of a change by any worker or node)."""
        if not self._watching and time.monotonic() - self._settings_checked >= self.check_every:
            self._refresh_settings()
        return self._merchandising

    def _settings(self, create: bool = False) -> StoreSettings | None:
        """The store's settings in the database; None when there is no database yet (and so no settings)."""
        if self._database_url is None and not create and not (self.path / DATABASE_FILE).is_file():
            return None
        return StoreSettings(self.events, store_id(self.store.manifest))

    def _refresh_settings(self) -> None:
        self._settings_checked = time.monotonic()
        settings = self._settings()
        if settings is None:
            return
        versions = settings.versions()
        if versions != self._settings_versions:
            self._merchandising = (Rules.from_json(settings.get("rules") or {}),
                                   Experiments.from_json(settings.get("experiments") or {}))
            self._settings_versions = versions

    def set_rules(self, data) -> Rules:
        """Check and store new business rules (a `RuleError` leaves the old ones); served by every worker within
        ``check_every`` seconds, by this shop at once."""
        rules = Rules.from_json(data)
        rules.check(self.generation.state)
        self._settings(create=True).put("rules", rules.to_json())
        self._refresh_settings()
        return rules

    def set_experiments(self, data) -> Experiments:
        """Check and store the running experiments (an `ExperimentError` leaves the old ones)."""
        experiments = Experiments.from_json(data)
        experiments.check(self.generation.state)
        self._settings(create=True).put("experiments", experiments.to_json())
        self._refresh_settings()
        return experiments

    def experiment_report(self, name: str) -> pd.DataFrame | None:
        """An experiment's rates per variant (`dressup.experiments.experiment_report`); None before any impression."""
        exposed = exposures(self.events, name)
        if exposed.empty:
            return None
        return experiment_report(exposed, later_events(self.events, name, ["cart", "purchase"]))

    def record_impressions(self, user: str, surface: str, served: Ranked, ids: Sequence[str]) -> None:
        """What the experiments' variants showed a signed-in user (``served.assigned``: their variants)."""
        for experiment, variant in getattr(served, "assigned", ()):
            record_exposures(self.events, experiment.name, variant.name, user, ids, "impression", surface)

    def record_click(self, user: str, item_id: str, surface: str) -> int:
        """A click on an item a surface showed; counted for each experiment running there. Returns how many."""
        self.generation.store.row(item_id)  # an unknown item is an `UnknownItemError`
        assigned = self.merchandising()[1].assigned(user, surface)
        for experiment, variant in assigned:
            record_exposures(self.events, experiment.name, variant.name, user, [item_id], "click", surface)
        return len(assigned)

    # -- tags ---------------------------------------------------------------------------------
    def tags(self, image: ImageInput) -> dict[str, Tag]:
        photo = load_image(image, max_pixels=self.max_pixels, formats=UPLOAD_FORMATS)
        if self._tagger is None:
            with self._lock:
                self._tagger = self._tagger or Tagger.load(self._tagger_name)
        return self._tagger.tag([photo])[0]

    def zero_shot_tags(self, image: ImageInput, labels: Sequence[str] | str) -> list[Tag]:
        """Labels of the shop's own ("floral,striped") scored for a photo, the most likely first."""
        checked_labels(labels)  # a bad label list is refused before the photo is read
        photo = load_image(image, max_pixels=self.max_pixels, formats=UPLOAD_FORMATS)
        if self._zero_shot is None:
            with self._lock:
                self._zero_shot = self._zero_shot or ZeroShotTagger.load(self._tagger_name)
        return self._zero_shot.tag([photo], labels)[0]

    # -- catalog edits ------------------------------------------------------------------------
    def add_item(self, fields: Mapping, image: bytes) -> Item:
        return self.edit([editing.Edit("add", fields.get("id"), fields, image)])[0]

    def update_item(self, item_id: str, fields: Mapping, image: bytes | None = None) -> Item:
        return self.edit([editing.Edit("update", item_id, fields, image)])[0]

    def remove_item(self, item_id: str) -> None:
        self.edit([editing.Edit("remove", item_id)])

    def edit(self, edits: Sequence[editing.Edit]) -> list[Item | None]:
        """Apply catalog edits (all or none; see `dressup.store.editing`); this shop serves them when it returns."""
        items = editing.apply_edits(self.store, edits, max_pixels=self.max_pixels, database_url=self._database_url)
        self.edited()
        return items

    # -- users --------------------------------------------------------------------------------
    @property
    def events(self) -> EventStore:
        """The users and events database, opened (and created) on first use."""
        if self._events is None:
            with self._lock:
                if self._events is None:
                    self._events = EventStore.open(self.path, url=self._database_url, token_lifetime=self.token_lifetime)
        return self._events

    def register(self, user_id: str | None = None) -> tuple[str, str]:
        return self.events.register(user_id)

    def new_token(self, user_id: str) -> str:
        return self.events.new_token(user_id)

    def token_expiry(self, user_id: str):
        return self.events.token_expiry(user_id)

    def user_for_token(self, token: str) -> str | None:
        return self.events.user_for_token(token)

    def add_event(self, user_id: str, item_id: str, kind: str, value: float | None = None, create_user: bool = False) -> None:
        """Record what a user did with an item (an unknown item is an `UnknownItemError`); ``create_user`` makes a user
        on their first event, otherwise the user must exist (an event racing a "forget me" must not bring them back)."""
        self.generation.store.row(item_id)
        if create_user:
            self.events.add(user_id, item_id, kind, value)
        else:
            self.events.add_for_user(user_id, item_id, kind, value)

    def user(self, user_id: str) -> dict:
        """The account, its event counts and the items it likes now (liked or rated 4-5 last, not disliked since)."""
        opinions = self.events.events(user_id, latest=HISTORY_EVENTS, kinds=["like", "dislike", "rating"])
        return {**self.events.summary(user_id), "liked": liked_items(opinions)}

    def forget(self, user_id: str) -> int:
        """Delete a user and their events; the feeds stop using them from the next request (refitted in the background)."""
        gone = self.events.forget(user_id)
        for recommender in self._capabilities.recommenders():  # none yet: its first fit will not see them
            recommender.refit_soon()
        return gone

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
        self.store.close()
