"""The reference methods every personalisation evaluation reports beside DressUp's own feed.

Each learns from purchases alone: recent best-sellers, the user's own past purchases then best-sellers, and the
seeds' content-based method (nearest neighbours of the mean vector of the user's items).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..store import Filters
from .base import HISTORY_EVENTS, Recommendation, Recommender, check_k


class PopularRecommender(Recommender):
    """The items bought most in the last ``days`` days (up to the end of the newest event's day), then the all-time
    best-sellers; the same list for everyone."""

    name = "popular-30-days"
    title = "popular (last 30 days)"
    days = 30

    def __init__(self, store, events, config=None):
        super().__init__(store, events, config)
        self._ranking: np.ndarray | None = None

    def ranking(self) -> list[str]:
        """Item ids, best-selling first (fitted on first use)."""
        if self._ranking is None:
            purchases = self._purchases(self.events.events())
            if purchases.empty:
                self._ranking = []
            else:
                until = purchases["timestamp"].max().normalize() + pd.Timedelta(days=1)
                recent = purchases[purchases["timestamp"] >= until - pd.Timedelta(days=self.days)]["item"].value_counts()
                ever = purchases["item"].value_counts()
                self._ranking = list(dict.fromkeys([*recent.index, *ever.index]))  # ids: rows change with edits
        return self._ranking

    def recommend(self, user: str, k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        return self._popular(self.store.state, k, filters)

    def recommend_from_items(self, items: Sequence[str] | Mapping[str, float], k: int = 12,
                             filters: Filters | None = None) -> list[Recommendation]:
        state = self.store.state
        rows, _ = self._liked_rows(items, state)
        return self._popular(state, k, filters, exclude=rows)

    def _popular(self, state, k: int, filters: Filters | None, first=(), exclude=()) -> list[Recommendation]:
        """``first``, then the best-sellers, then any other item: k allowed ones whenever the catalog has them."""
        check_k(k)
        allowed = state.mask(filters)
        rest = np.arange(state.rows) if allowed is None else np.flatnonzero(allowed)
        ranked = np.concatenate([np.asarray(first, np.int64), state.rows_of(self.ranking()), rest])
        return self._listed(state, ranked, k, allowed, exclude, "popular now")

    def _purchases(self, events: pd.DataFrame) -> pd.DataFrame:
        """Purchases of items the store holds."""
        known = self.store.state.rows_of(events["item"].to_numpy()) >= 0
        return events[(events["kind"] == "purchase").to_numpy() & known]

    def _history(self, user: str, state) -> np.ndarray:
        """Rows of what the user bought, latest first, each once."""
        bought = self._purchases(self.events.events(user, latest=HISTORY_EVENTS))
        return state.rows_of(list(dict.fromkeys(bought["item"].iloc[::-1])))


class PopularLastWeek(PopularRecommender):
    name = "popular-7-days"
    title = "popular (last 7 days)"
    days = 7


class OwnPastThenPopular(PopularRecommender):
    """What the user bought before, latest first, then the last 30 days' best-sellers."""

    name = "own-past-then-popular"
    title = "own past purchases, then popular"

    def recommend(self, user: str, k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        state = self.store.state
        return self._popular(state, k, filters, first=self._history(user, state))


class ContentBased(PopularRecommender):
    """The seeds' method: the nearest neighbours of the mean vector of the user's purchases (theirs excluded), then
    the last 30 days' best-sellers."""

    name = "content-based"
    title = "content-based (seeds)"

    def recommend(self, user: str, k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        return self.recommend_many([user], k, filters)[0]

    def recommend_many(self, users: Sequence[str], k: int = 12, filters: Filters | None = None) -> list[list[Recommendation]]:
        """One vector search for all the users at once."""
        state = self.store.state
        histories = [self._history(user, state) for user in users]
        return self._around(state, histories, k, filters)

    def recommend_from_items(self, items: Sequence[str] | Mapping[str, float], k: int = 12,
                             filters: Filters | None = None) -> list[Recommendation]:
        state = self.store.state
        rows, _ = self._liked_rows(items, state)
        return self._around(state, [rows], k, filters)[0]

    def _around(self, state, histories: list[np.ndarray], k: int, filters: Filters | None) -> list[list[Recommendation]]:
        check_k(k)
        known = [i for i, rows in enumerate(histories) if len(rows)]
        neighbours = {i: np.empty(0, np.int64) for i in range(len(histories))}
        if known:
            means = np.stack([state.index.vectors_of(histories[i]).mean(axis=0) for i in known]).astype(np.float32)
            found, _ = state.index.search(means, k + max(len(histories[i]) for i in known), state.mask(filters))
            neighbours.update(zip(known, found))
        return [self._popular(state, k, filters, first=neighbours[i], exclude=histories[i]) for i in range(len(histories))]
