"""DressUp's own feed: ``create_recommender("dressup", store, events).recommend("alice", k=12, filters)``.

A user's events become a profile (weighted by kind, rating and recency) split into several interests.
Candidates come from the vector index around each interest, from items bought together with the user's
items by other users, from other variants (colours) of the user's items, from the user's own history and
from recent best-sellers; each candidate is scored by a weighted blend of the signals in `scores`, filters are
applied exactly, and the list is re-ranked for diversity (MMR) with a small share of exploration.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..store import Filters, Store
from .base import HISTORY_EVENTS, Recommendation, Recommender, check_k
from .config import RecommenderConfig
from .scores import EXPLORATION_REASON, SCORES, Feed, reason
from .signals import (
    Profile,
    SignalCounts,
    Signals,
    event_weights,
    interests,
    once_buyers,
    variant_groups,
    variant_members,
)
from .tastes import Taste, Tastes

logger = logging.getLogger(__name__)
FIT_CHUNK_ROWS = 100_000  # events read at a time when fitting


class DressUpRecommender(Recommender):
    """Recommends a store's items from users' events; the catalog-wide signals are fitted on first use and, when the
    events change, refitted in a background thread while feeds go on with the current ones."""

    name = "dressup"
    title = "DressUp"
    baseline = False

    def __init__(self, store: Store, events, config: RecommenderConfig | None = None):
        super().__init__(store, events, config)
        self.config = config or RecommenderConfig()
        self.variant_column = self._variant_column()
        self._signals: Signals | None = None
        self._fitted: tuple | None = None
        self._fitted_at = 0.0
        self._fitting = threading.Lock()  # one fit at a time
        self._state = threading.Lock()    # guards the fields above and _refitting
        self._refitting = False
        self._tastes = Tastes()

    def with_config(self, config: RecommenderConfig) -> DressUpRecommender:
        """The same recommender, fitted signals included, ranking with other settings (that fit the same signals)."""
        twin = DressUpRecommender.__new__(DressUpRecommender)
        twin.__dict__.update(self.__dict__)
        twin.config, twin._fitting, twin._state, twin._tastes = config, threading.Lock(), threading.Lock(), Tastes()
        return twin

    # -- feeds ---------------------------------------------------------------------------------
    def recommend(self, user: str, k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        """The user's feed, best first; a user with no usable history gets popular items. What it derives from the
        user's events is kept (`Tastes`) until their events, the signals or the catalog change."""
        check_k(k)
        user, state = str(user), self.store.state
        signals = self.signals().resized(state.rows)
        version = self.events.user_version(user)
        taste = self._tastes.get(user, version, signals, state) if version is not None else None
        if taste is None:
            taste = self._taste(self._profile(user, signals, state), signals, state)
            if version is not None:
                self._tastes.put(user, version, signals, state, taste)
        return taste.feed((k, repr(filters)), lambda: self._rank(taste, signals, k, filters, seed_key=user, state=state))

    def recommend_from_items(self, items: Sequence[str] | Mapping[str, float], k: int = 12,
                             filters: Filters | None = None) -> list[Recommendation]:
        check_k(k)
        state = self.store.state
        signals = self.signals().resized(state.rows)
        rows, weights = self._liked_rows(items, state)
        seed_key = "|".join(sorted(map(str, state.ids_of(rows))))
        taste = self._taste(Profile.of(rows, weights), signals, state)
        return self._rank(taste, signals, k, filters, seed_key=seed_key, exclude=rows, state=state)

    # -- fitting -------------------------------------------------------------------------------
    def signals(self) -> Signals:
        """Catalog-wide signals, fitted on first use. A change to the events (looked for at most every
        ``refit_seconds``) is refitted in a background thread, and feeds go on with the current signals meanwhile."""
        if self._signals is None:
            with self._fitting:  # requests arriving together fit once
                if self._signals is None:
                    self._fit_now(self.events.last_change())
        elif self._refit_due():
            self._start_refit()
        return self._signals

    def refit(self) -> Signals:
        """Fit the catalog-wide signals now and return them (after a bulk import, say); feeds go on meanwhile."""
        with self._fitting:
            return self._fit_now(self.events.last_change())

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
                if (change := self.events.last_change()) != self._fitted:
                    self._fit_now(change)
        except Exception:  # the database went away, say: keep the current signals and try again later
            logger.exception("refitting the recommender failed; the current signals stay in use")
        finally:
            self._refitting = False

    def _fit_now(self, change: tuple) -> Signals:
        """Fit and swap in the new signals, as of the events' ``change`` (the caller holds ``_fitting``, so fits
        never overtake each other)."""
        signals = self._fit()
        with self._state:
            self._signals, self._fitted, self._fitted_at = signals, change, time.monotonic()
        return signals

    def _fit(self) -> Signals:
        """Signals of every event, read a chunk at a time: memory for one chunk, not for all the events."""
        latest = self.events.latest()
        as_of = _naive_utc(latest) if latest is not None else _naive_utc(pd.Timestamp.now(tz="UTC"))
        state = self.store.state
        counts = SignalCounts(state.rows, as_of, self.config.popularity_half_life_days)
        for events in self.events.event_chunks(FIT_CHUNK_ROWS):
            counts.add(state.rows_of(events["item"].to_numpy()), events["user"].to_numpy(),
                       event_weights(events, as_of, self.config.half_life_days), events["timestamp"],
                       events["kind"].to_numpy(dtype=object))
        return counts.signals()

    def _profile(self, user: str, signals: Signals, state) -> Profile:
        events = self.events.events(user, latest=HISTORY_EVENTS)  # as they are now: a like counts at once
        rows = state.rows_of(events["item"].to_numpy())
        bought_once = rows[(events["kind"] == "purchase").to_numpy()] if once_buyers(events) else None
        as_of = max(signals.as_of, events["timestamp"].max()) if len(events) else signals.as_of
        return Profile.of(rows, event_weights(events, as_of, self.config.half_life_days), bought_once,
                          events["kind"].to_numpy(dtype=object))

    def _variant_column(self) -> str | None:
        column = self.config.variant_column
        if column == "auto":
            column = self.store.layout.role_column("variant")
            return column if column in self.store.state.columns else None
        return self.store.column_named(column) if column is not None else None

    # -- ranking -------------------------------------------------------------------------------
    def _rank(self, taste: Taste, signals: Signals, k: int, filters: Filters | None, seed_key: str,
              exclude: np.ndarray | None = None, state=None) -> list[Recommendation]:
        profile = taste.profile
        allowed = state.mask(filters)
        shown_back = self._shown_back(profile, signals, state)
        chosen = np.setdiff1d(profile.chosen, shown_back)  # what the user chose is not offered again, bar rebuys
        exclude = chosen if exclude is None else np.union1d(exclude, chosen)
        feed = self._candidates(taste, signals, k, allowed, state, keep=filters is None or filters.is_empty())
        candidates = feed.candidates
        contributions = np.zeros((len(candidates), len(SCORES)))
        if len(candidates):  # each signal scores every candidate (some normalise over them), before any is excluded
            contributions = np.stack([self.config.weight(name) * score.function(feed) for name, score in SCORES.items()], axis=1)
        vectors = feed.candidate_vectors
        if exclude is not None:
            keep = ~np.isin(candidates, exclude)
            candidates, contributions, vectors = candidates[keep], contributions[keep], vectors[keep]
        total = contributions.sum(axis=1)
        order = np.argsort(-total, kind="stable")
        if feed.groups is not None:  # one product per feed: the best-scored colour stands for the others
            _, first = np.unique(feed.groups[candidates[order]], return_index=True)
            order = order[np.sort(first)]
        order = order[: max(10 * k, 100)]
        chosen, explored = self._diversify(total[order], k, seed_key, vectors[order])
        rows = candidates[order[chosen]] if chosen else np.empty(0, np.int64)
        ids = state.ids_of(rows) if chosen else []
        own = set(profile.rows.tolist())  # a rebuy drawn for exploration is not "something new"
        reasons = [EXPLORATION_REASON if i in explored and int(candidates[order[i]]) not in own
                   else reason(dict(zip(SCORES, contributions[order[i]]))) for i in chosen]
        because = self._because(feed, rows, vectors[order[chosen]] if chosen else None, reasons, state)
        variants = self._other_variants(feed.groups, rows, allowed, np.union1d(exclude, profile.disliked), state)
        return [Recommendation(str(item_id), round(float(total[order[i]]), 6), why, source, others)
                for item_id, i, why, source, others in zip(ids, chosen, reasons, because, variants)]

    def _other_variants(self, groups, rows: np.ndarray, allowed, exclude, state, most: int = 8) -> list[tuple[str, ...]]:
        """Each recommended row's other variants (colours) that the filters allow, behind it in the feed."""
        if groups is None or not len(rows):
            return [()] * len(rows)
        members = variant_members(state, self.variant_column)
        alive = state.alive
        found = []
        for row in rows:
            others = members(groups[row])
            keep = (others != row) & alive[others]
            if allowed is not None:
                keep &= allowed[others]
            found.append(others[keep])
        flat = np.concatenate(found)
        kept = ~np.isin(flat, exclude) if exclude is not None and len(exclude) else np.ones(len(flat), bool)
        per_row = [int(part.sum()) for part in np.split(kept, np.cumsum([len(f) for f in found])[:-1])]
        ids = state.ids_of(flat[kept])  # one look-up for the whole feed
        return [tuple(str(i) for i in part[:most]) for part in np.split(ids, np.cumsum(per_row)[:-1])]

    @staticmethod
    def _because(feed: Feed, rows: np.ndarray, vectors: np.ndarray | None, reasons: list[str], state) -> list[str | None]:
        """For each recommended row that follows from the user's items, the one it follows from: the most
        co-purchased with it for "bought together", else the closest in look."""
        liked = feed.liked
        if not len(liked) or not len(rows):
            return [None] * len(rows)
        closest = liked[np.argmax(vectors @ feed.vectors_of(liked).T, axis=1)]
        together = feed.signals.co_occurrence[rows][:, liked].toarray()
        strongest = liked[np.argmax(together, axis=1)]
        personal = {SCORES[name].reason for name in ("variants", "collaborative", "content", "history")}
        sources = [None if why not in personal else partner if why == SCORES["collaborative"].reason and bond > 0 else near
                   for why, near, partner, bond in zip(reasons, closest, strongest, together.max(axis=1))]
        sources = [None if source == row else source for row, source in zip(rows, sources)]
        named = iter(state.ids_of([s for s in sources if s is not None]))  # one look-up for the whole feed
        return [None if source is None else str(next(named)) for source in sources]

    def _shown_back(self, profile: Profile, signals: Signals, state) -> np.ndarray:
        """The user's bought rows that may be recommended again: those of categories whose buyers often buy the same
        item again on another day (socks, basics), learned from the events (`rebuy_above`)."""
        if not len(profile.bought):
            return profile.bought
        rates = signals.rebuy_rates(state.codes("category"))
        return profile.bought[rates[profile.bought] >= self.config.rebuy_above - 1e-9]  # the catalog's rate itself counts

    def _taste(self, profile: Profile, signals: Signals, state) -> Taste:
        """What any feed of this profile derives from it: interests, co-purchases, favourite categories, variants."""
        taste = Taste(profile)
        liked, weight = profile.liked, profile.weights[profile.weights > 0]
        if not len(liked):
            return taste
        groups = variant_groups(state, self.variant_column)
        if groups is not None:
            taste.variant_pool = np.flatnonzero(np.isin(groups, groups[liked]))
        together = np.asarray(signals.co_occurrence[liked].T @ weight).ravel()
        taste.together_rows = np.flatnonzero(together)
        taste.together_values = together[taste.together_rows]
        codes = state.codes("category") + 1  # missing (-1) is a category of its own
        share = np.bincount(codes[liked], weights=weight, minlength=codes.max() + 1)
        taste.category_shares = share / share.max()
        taste.centres, taste.shares = interests(state.index.vectors_of(liked), weight, int(self.config.max_interests),
                                                int(self.config.seed))
        return taste

    def _candidates(self, taste: Taste, signals: Signals, k: int, allowed: np.ndarray | None, state, keep: bool) -> Feed:
        """The candidate rows of a feed, with what their scores are computed from; ``keep``: ``allowed`` is the
        catalog's open mask, whose index neighbours the taste keeps."""
        profile = taste.profile
        groups = variant_groups(state, self.variant_column)
        feed = Feed(np.empty(0, np.int64), profile, signals, state.index.vectors_of, groups, self.config.content_power,
                    self.config.once_buyer_history)
        pools = [self._popular(signals, allowed, max(4 * k, 50))]
        if len(feed.liked):
            pools.append(feed.liked)
            if taste.variant_pool is not None:
                pools.append(taste.variant_pool)
            feed.together = np.zeros(state.rows)
            feed.together[taste.together_rows] = taste.together_values
            pools.append(taste.together_rows)
            share = taste.category_shares[state.codes("category") + 1]
            feed.in_favourites = np.where(share > 0, signals.popularity * share, -1.0)
            pools.append(_top(feed.in_favourites if allowed is None else np.where(allowed, feed.in_favourites, -1.0), 4 * k))
            feed.centres, feed.shares = taste.centres, taste.shares
            found = taste.neighbours(allowed, lambda: state.index.search(
                taste.centres.astype(np.float32), int(self.config.neighbours), allowed)[0], keep)
            pools.append(found[found >= 0])
        candidates = np.unique(np.concatenate(pools).astype(np.int64))
        if allowed is not None:
            candidates = candidates[allowed[candidates]]
        feed.candidates = candidates[~np.isin(candidates, profile.disliked)]
        return feed

    def _popular(self, signals: Signals, allowed: np.ndarray | None, count: int) -> np.ndarray:
        top = _top(signals.popularity if allowed is None else np.where(allowed, signals.popularity, -1.0), count)
        if len(top) < count and allowed is not None:  # too few sold items pass the filters: any allowed item
            top = np.concatenate([top, np.flatnonzero(allowed)[: count - len(top)]])
        return top

    def _diversify(self, scores: np.ndarray, k: int, seed_key: str, vectors: np.ndarray) -> tuple[list[int], set[int]]:
        """MMR re-ranking of the best candidates (their scores, best first, and vectors; near-duplicates of chosen
        items fall back), with ``exploration`` of the slots drawn from the rest: positions, and those explored."""
        if len(scores) == 0:
            return [], set()
        explore = round(self.config.exploration * k) if len(scores) > k else 0
        relevance = (scores - scores.min()) / max(scores[0] - scores.min(), 1e-12)
        alike = self.config.alike_above
        closest = np.full(len(scores), -np.inf)
        available = np.ones(len(scores), bool)
        chosen: list[int] = []
        for _ in range(min(k - explore, len(scores))):
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


def _naive_utc(moment) -> pd.Timestamp:
    """A moment as naive UTC, like the event times."""
    moment = pd.Timestamp(moment)
    return moment.tz_convert(None) if moment.tzinfo is not None else moment


def _top(values: np.ndarray, count: int) -> np.ndarray:
    """Rows of the ``count`` largest non-negative values."""
    count = min(count, len(values))
    top = np.argpartition(-values, count - 1)[:count]
    return top[values[top] >= 0]
