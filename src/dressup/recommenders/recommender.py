"""Personal feeds: ``Recommender.open(store).recommend("alice", k=12, filters)``.

A user's events become a profile (weighted by kind, rating and recency) split into several interests.
Candidates come from the vector index around each interest, from items bought together with the user's
items by other users, from other variants (colours) of the user's items, from the user's own history and
from recent best-sellers; each candidate is scored by a weighted blend of these signals, filters are
applied exactly, and the list is re-ranked for diversity (MMR) with a small share of exploration.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd

from ..errors import DressUpError
from ..filters import Filters
from ..store import Store
from .signals import Profile, SignalCounts, Signals, event_weights, interests, once_buyers, variant_groups

SIGNALS = ("history", "variants", "collaborative", "content", "popularity", "favourite_categories")
logger = logging.getLogger(__name__)
FIT_CHUNK_ROWS = 100_000  # events read at a time when fitting on a live database
REASONS = {"history": "bought or liked before", "variants": "another variant of an item you liked",
           "collaborative": "bought together with your items", "content": "your style", "popularity": "popular now",
           "favourite_categories": "popular in your categories",
           "exploration": "something new", "catalog": "from the catalog"}


class RecommendError(DressUpError, ValueError):
    """A recommendation that cannot be made: no items given, unknown items only, bad settings."""


@dataclass(frozen=True)
class RecommenderConfig:
    """How signals are weighed; the defaults were chosen on H&M validation months before 2020-06 (see README)."""

    history: float = 2.0          # items the user bought or liked again
    once_buyer_history: float = 0.5  # share of that weight for what was bought by users who never bought an item on two days
    variants: float = 0.5         # other variants (e.g. colours, `variant_column`) of those items
    collaborative: float = 0.2    # bought together with them by other users
    content: float = 0.3          # visually close to one of the user's interests
    popularity: float = 0.3       # recent best-sellers
    favourite_categories: float = 0.5  # recent best-sellers of the categories the user buys
    content_power: float = 4.0    # sharpens content similarity: only close items count
    half_life_days: float = 140.0            # how fast a user's old events fade
    popularity_half_life_days: float = 10.0  # how fast sales stop counting as "popular now"
    max_interests: int = 8        # clusters of a user's taste
    neighbours: int = 100         # index candidates per interest
    diversity: float = 0.5        # MMR trade-off: 0 = ranked by score only
    alike_above: float = 0.7      # MMR pushes apart only items more similar than this (cosine)
    exploration: float = 0.08     # share of slots given to less certain candidates
    variant_column: str | None = "auto"  # "auto": product_code when the catalog has one
    refit_seconds: float = 60.0   # with a live database: look for new events at most this often (refits run in the background)
    seed: int = 0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if name == "variant_column":
                if value is not None and not isinstance(value, str):
                    raise RecommendError(f"variant_column must be a column name or None, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise RecommendError(f"recommender setting {name} must be a number, not {value!r}")
        limits = {name: (0.0, math.inf) for name in (*SIGNALS, "refit_seconds", "seed")}
        limits.update(diversity=(0.0, 1.0), exploration=(0.0, 0.5), alike_above=(-1.0, 0.999), once_buyer_history=(0.0, 1.0))
        for name, (low, high) in limits.items():
            if not low <= getattr(self, name) <= high:
                raise RecommendError(f"recommender setting {name} must be within {low:g} and {high:g}, not {getattr(self, name)!r}")
        positive = ("content_power", "half_life_days", "popularity_half_life_days", "max_interests", "neighbours")
        for name in positive:
            if getattr(self, name) <= 0:
                raise RecommendError(f"recommender setting {name} must be above 0, not {getattr(self, name)!r}")
        for name in ("max_interests", "neighbours", "seed"):
            if int(getattr(self, name)) != getattr(self, name):
                raise RecommendError(f"recommender setting {name} must be a whole number, not {getattr(self, name)!r}")

    def with_options(self, **options) -> RecommenderConfig:
        unknown = set(options) - set(asdict(self))
        if unknown:
            raise RecommendError(f"unknown recommender setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **options)


@dataclass(frozen=True)
class Recommendation:
    id: str
    score: float
    reason: str


class Recommender:
    """Recommends a store's items from users' events: a live `EventStore` or a fixed events table."""

    def __init__(self, store: Store, events, config: RecommenderConfig | None = None):
        self.store = store
        self.config = config or RecommenderConfig()
        self._database = events if not isinstance(events, pd.DataFrame) else None
        self._table = events if isinstance(events, pd.DataFrame) else None
        self.vectors = np.asarray(store.vectors, dtype=np.float32)
        self.groups = variant_groups(store.items, self._variant_column())
        self.categories = pd.factorize(store.items["category"].astype(str))[0]
        self._signals: Signals | None = None
        self._fitted: tuple | None = None
        self._fitted_at = 0.0
        self._fitting = threading.Lock()  # one fit at a time
        self._state = threading.Lock()    # guards the fields above and _refitting
        self._refitting = False
        self._profiles: dict[str, Profile] = {}
        self._owns_database = False

    @classmethod
    def open(cls, store: str | Path | Store, events=None, config: RecommenderConfig | None = None) -> Recommender:
        """A recommender over ``store`` and its event database (STORE/users.sqlite or $DRESSUP_DATABASE_URL)."""
        from ..users import EventStore

        opened = store if isinstance(store, Store) else Store.open(store)
        recommender = cls(opened, events if events is not None else EventStore.open(opened.path), config)
        recommender._owns_database = events is None
        return recommender

    def close(self) -> None:
        """Close the event database if `open` opened it (a database given to it stays open)."""
        if self._owns_database:
            self._database.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    # -- public API --------------------------------------------------------------------------
    def recommend(self, user: str, k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        """The user's feed, best first; a user with no usable history gets popular items."""
        signals = self.signals()
        return self._rank(self._profile(str(user), signals), signals, k, filters, seed_key=str(user))

    def recommend_from_items(self, items: Sequence[str] | Mapping[str, float], k: int = 12,
                             filters: Filters | None = None) -> list[Recommendation]:
        """A feed for someone who likes these items (weights optional), without a stored user."""
        weights = dict(items) if isinstance(items, Mapping) else {item: 1.0 for item in items}
        if not weights:
            raise RecommendError("give at least one liked item")
        rows = self.store.rows_of(list(weights))
        unknown = [item for item, row in zip(weights, rows) if row < 0]
        if unknown:
            raise RecommendError(f"unknown item id(s): {', '.join(map(str, unknown[:5]))}")
        profile = Profile.of(rows, np.array(list(weights.values()), dtype=float))
        return self._rank(profile, self.signals(), k, filters, seed_key="|".join(sorted(map(str, weights))), exclude=rows)

    def signals(self) -> Signals:
        """Catalog-wide signals, fitted on first use. With a live database, a change to it (looked for at most every
        ``refit_seconds``) is refitted in a background thread, and feeds go on with the current signals meanwhile."""
        if self._table is not None:
            if self._signals is None:
                self._signals = self._fit_table(self._table)
            return self._signals
        if self._signals is None:
            with self._fitting:  # requests arriving together fit once
                if self._signals is None:
                    self._fit_now(self._database.last_change())
        elif self._refit_due():
            self._start_refit()
        return self._signals

    def refit(self) -> Signals:
        """Fit the catalog-wide signals now and return them (after a bulk import, say); feeds go on meanwhile."""
        if self._table is not None:
            return self.signals()
        with self._fitting:
            return self._fit_now(self._database.last_change())

    def refit_soon(self) -> None:
        """Look for changes at the next request rather than after ``refit_seconds``: after a "forget me", say, whose
        events must stop counting in popularity and co-purchases."""
        with self._state:
            self._fitted_at = -math.inf

    def _refit_due(self) -> bool:
        with self._state:
            if self._refitting or time.monotonic() - self._fitted_at <= self.config.refit_seconds:
                return False
            self._refitting, self._fitted_at = True, time.monotonic()
            return True

    def _start_refit(self) -> None:
        try:
            threading.Thread(target=self._refit_if_changed, name="dressup-refit", daemon=True).start()
        except RuntimeError:  # no thread to be had (or the interpreter is shutting down): try at the next look
            self._refitting = False
            logger.exception("could not start a refit; the current signals stay in use")

    def _refit_if_changed(self) -> None:
        try:
            with self._fitting:
                if (change := self._database.last_change()) != self._fitted:
                    self._fit_now(change)
        except Exception:  # the database went away, say: keep the current signals and try again later
            logger.exception("refitting the recommender failed; the current signals stay in use")
        finally:
            self._refitting = False

    def _fit_now(self, change: tuple) -> Signals:
        """Fit and swap in the new signals, as of the database's ``change`` (the caller holds ``_fitting``, so fits
        never overtake each other)."""
        signals = self._fit_database()
        with self._state:
            self._signals, self._fitted, self._fitted_at = signals, change, time.monotonic()
        return signals

    # -- fitting -----------------------------------------------------------------------------
    def _fit_table(self, events: pd.DataFrame) -> Signals:
        """Signals of a fixed events table, and every user's profile at once."""
        as_of = events["timestamp"].max() if len(events) else _utc_now()
        rows = self.store.rows_of(events["item"].to_numpy())
        weights = event_weights(events, as_of, self.config.half_life_days)
        once, bought = once_buyers(events), (events["kind"] == "purchase").to_numpy()
        self._profiles = {user: Profile.of(rows[index], weights[index], rows[index[bought[index]]] if user in once else None)
                          for user, index in events.groupby("user", sort=False).indices.items()}
        return Signals.fit(rows, events["user"].to_numpy(), weights, events["timestamp"], len(self.store), as_of,
                           self.config.popularity_half_life_days)

    def _fit_database(self) -> Signals:
        """Signals of a live database, read a chunk at a time: memory for one chunk, not for all the events."""
        latest = self._database.latest()
        as_of = pd.Timestamp(latest).tz_convert(None) if latest is not None else _utc_now()
        counts = SignalCounts(len(self.store), as_of, self.config.popularity_half_life_days)
        for events in self._database.event_chunks(FIT_CHUNK_ROWS):
            counts.add(self.store.rows_of(events["item"].to_numpy()), events["user"].to_numpy(),
                       event_weights(events, as_of, self.config.half_life_days), events["timestamp"])
        return counts.signals()

    def _profile(self, user: str, signals: Signals) -> Profile:
        if self._table is not None:
            return self._profiles.get(user, Profile(np.empty(0, np.int64), np.empty(0)))
        events = self._database.events(user=user)  # fresh: a like counts at once
        rows = self.store.rows_of(events["item"].to_numpy())
        bought_once = rows[(events["kind"] == "purchase").to_numpy()] if once_buyers(events) else None
        return Profile.of(rows, event_weights(events, max(signals.as_of, events["timestamp"].max()) if len(events)
                                              else signals.as_of, self.config.half_life_days), bought_once)

    def _variant_column(self) -> str | None:
        column = self.config.variant_column
        if column == "auto":
            column = next((c for c in ("attr:product_code", "product_code") if c in self.store.items.columns), None)
        elif column is not None:
            column = self.store.filter_index.column(column)
        return column

    # -- ranking -----------------------------------------------------------------------------
    def _rank(self, profile: Profile, signals: Signals, k: int, filters: Filters | None, seed_key: str,
              exclude: np.ndarray | None = None) -> list[Recommendation]:
        if k < 1:
            raise RecommendError("k must be at least 1")
        allowed = self.store.filter_index.mask(filters)
        candidates, scores = self._candidates(profile, signals, k, allowed)
        if exclude is not None:
            keep = ~np.isin(candidates, exclude)
            candidates, scores = candidates[keep], scores[keep]
        contributions = scores * np.array([getattr(self.config, name) for name in SIGNALS])
        total = contributions.sum(axis=1)
        order = np.argsort(-total, kind="stable")[: max(10 * k, 100)]
        chosen, explored = self._diversify(candidates[order], total[order], k, seed_key)
        return [Recommendation(str(self.store.ids[candidates[order[i]]]), round(float(total[order[i]]), 6),
                               REASONS["exploration"] if i in explored else _reason(contributions[order[i]])) for i in chosen]

    def _candidates(self, profile: Profile, signals: Signals, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Candidate rows and their (candidates x signals) scores."""
        liked, weight = profile.liked, profile.weights[profile.weights > 0]
        pools = [self._popular(signals, allowed, max(4 * k, 50))]
        centres = shares = None
        if len(liked):
            pools.append(liked)
            if self.groups is not None:
                pools.append(np.flatnonzero(np.isin(self.groups, self.groups[liked])))
            together = np.asarray(signals.co_occurrence[liked].T @ weight).ravel()
            pools.append(np.flatnonzero(together))
            category_share = np.bincount(self.categories[liked], weights=weight, minlength=self.categories.max() + 1)
            category_share /= category_share.max()
            in_favourites = np.where(category_share[self.categories] > 0, signals.popularity * category_share[self.categories], -1.0)
            pools.append(_top(in_favourites if allowed is None else np.where(allowed, in_favourites, -1.0), 4 * k))
            centres, shares = interests(self.vectors[liked], weight, int(self.config.max_interests), int(self.config.seed))
            found, _ = self.store.index.search(centres.astype(np.float32), int(self.config.neighbours), allowed)
            pools.append(found[found >= 0])
        candidates = np.unique(np.concatenate(pools).astype(np.int64))
        if allowed is not None:
            candidates = candidates[allowed[candidates]]
        candidates = candidates[~np.isin(candidates, profile.disliked)]
        scores = np.zeros((len(candidates), len(SIGNALS)))
        if len(candidates) == 0:  # nothing passes the filters
            return candidates, scores
        scores[:, 4] = signals.popularity[candidates]
        if len(liked):
            on_row = dict(zip(liked.tolist(), weight.tolist()))
            scores[:, 0] = [on_row.get(row, 0.0) for row in candidates.tolist()]
            if self.groups is not None:
                by_group = pd.Series(weight).groupby(self.groups[liked]).sum()
                scores[:, 1] = pd.Series(self.groups[candidates]).map(by_group).fillna(0).to_numpy() - scores[:, 0]
            scores[:, 2] = together[candidates] / max(together[candidates].max(), 1e-12)
            similarity = np.maximum(self.vectors[candidates] @ centres.T, 0) ** self.config.content_power
            scores[:, 3] = (similarity * (shares / shares.max())).max(axis=1)
            scores[:, 5] = np.maximum(in_favourites[candidates], 0)
            if len(profile.bought_once):  # they rarely rebuy: what they bought gives way to new items, not what they like
                scores[np.isin(candidates, profile.bought_once), 0] *= self.config.once_buyer_history
        if len(profile.disliked):  # close look-alikes of disliked items fall back
            close = np.maximum(self.vectors[candidates] @ self.vectors[profile.disliked].T, 0).max(axis=1)
            scores[:, 3] -= close ** self.config.content_power
        return candidates, scores

    def _popular(self, signals: Signals, allowed: np.ndarray | None, count: int) -> np.ndarray:
        top = _top(signals.popularity if allowed is None else np.where(allowed, signals.popularity, -1.0), count)
        if len(top) < count and allowed is not None:  # too few sold items pass the filters: any allowed item
            top = np.concatenate([top, np.flatnonzero(allowed)[: count - len(top)]])
        return top

    def _diversify(self, rows: np.ndarray, scores: np.ndarray, k: int, seed_key: str) -> tuple[list[int], set[int]]:
        """MMR re-ranking of the best candidates (near-duplicates of chosen items fall back), with
        ``exploration`` of the slots drawn from the rest: positions in ``rows``, and those explored."""
        if len(rows) == 0:
            return [], set()
        explore = round(self.config.exploration * k) if len(rows) > k else 0
        relevance = (scores - scores.min()) / max(scores[0] - scores.min(), 1e-12)
        alike = self.config.alike_above
        vectors = self.vectors[rows]
        closest = np.full(len(rows), -np.inf)
        available = np.ones(len(rows), bool)
        chosen: list[int] = []
        for _ in range(min(k - explore, len(rows))):
            redundancy = np.maximum(closest - alike, 0) / (1 - alike)  # 0 for items unlike all chosen ones
            value = (1 - self.config.diversity) * relevance - self.config.diversity * redundancy
            value[~available] = -np.inf
            pick = int(np.argmax(value))
            chosen.append(pick)
            available[pick] = False
            closest = np.maximum(closest, vectors @ vectors[pick])
        explored: list[int] = []
        if explore:
            rng = np.random.default_rng(zlib.crc32(f"{self.config.seed}|{seed_key}".encode()))
            rest = np.flatnonzero(available)
            explored = rng.choice(rest, min(explore, len(rest)), replace=False).tolist()
            for pick in explored:  # into the second half of the list, not the top
                chosen.insert(int(rng.integers(len(chosen) // 2, len(chosen) + 1)), pick)
        return chosen, set(explored)


def _reason(contributions: np.ndarray) -> str:
    """Why an item is recommended: the user's own history first, else the signal that added most."""
    if contributions[0] > 0:
        return REASONS["history"]
    return REASONS[SIGNALS[contributions.argmax()]] if contributions.max() > 0 else REASONS["catalog"]


def _utc_now() -> pd.Timestamp:
    """Now as naive UTC, like the event times."""
    return pd.Timestamp.now(tz="UTC").tz_localize(None)


def _top(values: np.ndarray, count: int) -> np.ndarray:
    """Rows of the ``count`` largest non-negative values."""
    count = min(count, len(values))
    top = np.argpartition(-values, count - 1)[:count]
    return top[values[top] >= 0]
