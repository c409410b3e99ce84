"""`Recommender`: personal feeds from users' events, whatever method makes them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from ..errors import DressUpError
from ..store import Filters, Store
from ..users.events import EventSource, EventTable

#: The newest events of a user that a feed reads: a user with a huge history (a bot, a shop's test account) costs no
#: more than anyone, and what they did long ago weighs little in any case.
HISTORY_EVENTS = 2_000

class RecommendError(DressUpError, ValueError):
    """A recommendation that cannot be made: no items given, unknown items only, bad settings."""


@dataclass(frozen=True)
class Recommendation:
    """One recommended item, its score (higher is better, comparable within one list) and why it is there."""

    id: str
    score: float
    reason: str
    because: str | None = None  # the user's item it follows from ("because you liked X"), when one does
    variants: tuple[str, ...] = ()  # the same product's other variants (colours), behind it in the feed


class Recommender(ABC):
    """Feeds from users' events: ``recommender.recommend("alice", k=12, filters)``, best first.

    Built by name (`dressup.recommenders.create_recommender`) over a store and an `EventSource`: the live database,
    or an `EventTable` (a DataFrame is wrapped in one). ``baseline`` marks the reference methods an evaluation
    reports beside DressUp's own. A user without usable events gets popular items, never an error; items the
    store lacks and disliked items are never recommended; filters are applied exactly.
    """

    name: ClassVar[str]
    title: ClassVar[str]  # how reports name it
    baseline: ClassVar[bool] = True

    def __init__(self, store: Store, events: EventSource | pd.DataFrame, config=None):
        self.store = store
        self.events = EventTable(events) if isinstance(events, pd.DataFrame) else events
        self._owns_events = False

    @classmethod
    def open(cls, store, events: EventSource | None = None, config=None) -> Self:
        """This recommender over ``store`` and its event database (STORE/users.sqlite), e.g.
        ``DressUpRecommender.open("stores/hm")``; it closes the database it opened."""
        from ..users import EventStore

        opened = store if isinstance(store, Store) else Store.open(store)
        recommender = cls(opened, events if events is not None else EventStore.open(opened.path), config)
        recommender._owns_events = events is None
        return recommender

    @abstractmethod
    def recommend(self, user: str, k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        """The user's feed, best first."""

    @abstractmethod
    def recommend_from_items(self, items: Sequence[str] | Mapping[str, float], k: int = 12,
                             filters: Filters | None = None) -> list[Recommendation]:
        """A feed for someone who likes these items (weights optional), without a stored user; never the items themselves."""

    def recommend_new_visitor(self, k: int = 12, filters: Filters | None = None) -> list[Recommendation]:
        """A feed for someone the shop knows nothing of yet (no stored user has an empty id)."""
        return self.recommend("", k, filters)

    def recommend_many(self, users: Sequence[str], k: int = 12, filters: Filters | None = None) -> list[list[Recommendation]]:
        """Each user's feed, in order."""
        return [self.recommend(user, k, filters) for user in users]

    def close(self) -> None:
        """Close the event source if `open` opened it (a source given to it stays open)."""
        if self._owns_events:
            self.events.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    # -- helpers for implementations --------------------------------------------------------------
    def _liked_rows(self, items: Sequence[str] | Mapping[str, float], state=None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and weights of the items someone likes; a `RecommendError` for none or unknown ones."""
        weights = dict(items) if isinstance(items, Mapping) else {item: 1.0 for item in items}
        if not weights:
            raise RecommendError("give at least one liked item")
        rows = (state or self.store.state).rows_of(list(weights))
        unknown = [item for item, row in zip(weights, rows) if row < 0]
        if unknown:
            raise RecommendError(f"unknown item id(s): {', '.join(map(str, unknown[:5]))}")
        return rows, np.array(list(weights.values()), dtype=float)

    def _listed(self, state, rows, k: int, allowed: np.ndarray | None, exclude=(), reason: str = "") -> list[Recommendation]:
        """The first k of ``rows`` (best first) that are allowed and not excluded, each once, scored by rank."""
        seen, chosen = {int(r) for r in exclude}, []
        for row in rows:
            row = int(row)
            if row < 0 or row in seen or (allowed is not None and not allowed[row]):
                continue
            seen.add(row)
            chosen.append(row)
            if len(chosen) == k:
                break
        ids = state.ids_of(chosen) if chosen else []
        return [Recommendation(str(item_id), round(1.0 - rank / max(k, 1), 6), reason) for rank, item_id in enumerate(ids)]


def check_k(k: int) -> None:
    if k < 1:
        raise RecommendError("k must be at least 1")
