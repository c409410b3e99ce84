"""The signals that score a feed's candidates: one function each, named in `SCORES` with the reason it gives.

A signal is ``function(feed) -> one score per candidate`` (mostly from 0 to 1), weighed by the
`RecommenderConfig` setting of the same name. A new signal is a function here, its line in `SCORES` and
its weight in `RecommenderConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .signals import Profile, Signals


@dataclass
class Feed:
    """One feed being ranked: the candidate rows and what their scores are computed from."""

    candidates: np.ndarray
    profile: Profile
    signals: Signals
    vectors_of: Callable[[np.ndarray], np.ndarray]  # the store's vectors of some rows
    groups: np.ndarray | None         # variant group by row (None: the catalog has no variants)
    content_power: float
    once_buyer_history: float
    together: np.ndarray | None = None       # co-purchase strength with the user's items, by row
    in_favourites: np.ndarray | None = None  # popularity within the user's categories, by row (-1 elsewhere)
    centres: np.ndarray | None = None        # the user's interests (unit vectors) and their shares
    shares: np.ndarray | None = None

    @cached_property
    def candidate_vectors(self) -> np.ndarray:
        """The candidates' vectors, read once (set the candidates first)."""
        return self.vectors_of(self.candidates)

    @property
    def liked(self) -> np.ndarray:
        return self.profile.liked

    @property
    def liked_weights(self) -> np.ndarray:
        return self.profile.weights[self.profile.weights > 0]

    def own_weight(self) -> np.ndarray:
        """Each candidate's summed weight in the user's own events (0 for items they never touched)."""
        return _lookup(self.liked, self.liked_weights, self.candidates)  # liked rows are sorted (a profile's are unique)


def _lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``values`` of sorted ``keys`` at each of ``wanted``; 0 where a key is missing."""
    if not len(keys):
        return np.zeros(len(wanted))
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, values[at], 0.0)


def history(feed: Feed) -> np.ndarray:
    """The user's own items again; what a customer who never rebuys bought counts for less."""
    if not len(feed.liked):
        return np.zeros(len(feed.candidates))
    scores = feed.own_weight()
    if len(feed.profile.bought_once):  # they rarely rebuy: what they bought gives way to new items, not what they like
        scores[np.isin(feed.candidates, feed.profile.bought_once)] *= feed.once_buyer_history
    return scores


def variants(feed: Feed) -> np.ndarray:
    """Other variants (colours) of the user's items."""
    if feed.groups is None or not len(feed.liked):
        return np.zeros(len(feed.candidates))
    groups, where = np.unique(feed.groups[feed.liked], return_inverse=True)
    by_group = np.bincount(where, weights=feed.liked_weights, minlength=len(groups))
    return _lookup(groups, by_group, feed.groups[feed.candidates]) - feed.own_weight()


def collaborative(feed: Feed) -> np.ndarray:
    """Bought together with the user's items by other users."""
    if feed.together is None:
        return np.zeros(len(feed.candidates))
    together = feed.together[feed.candidates]
    return together / max(together.max(initial=0.0), 1e-12)


def content(feed: Feed) -> np.ndarray:
    """Close to one of the user's interests (sharpened, weighted by the interest's share); close look-alikes of
    disliked items fall back."""
    scores = np.zeros(len(feed.candidates))
    vectors = feed.candidate_vectors
    if feed.centres is not None:
        similarity = np.maximum(vectors @ feed.centres.T, 0) ** feed.content_power
        scores = (similarity * (feed.shares / feed.shares.max())).max(axis=1)
    if len(feed.profile.disliked):
        close = np.maximum(vectors @ feed.vectors_of(feed.profile.disliked).T, 0).max(axis=1)
        scores = scores - close ** feed.content_power
    return scores


def popularity(feed: Feed) -> np.ndarray:
    """Recent best-sellers."""
    return feed.signals.popularity[feed.candidates]


def favourite_categories(feed: Feed) -> np.ndarray:
    """Recent best-sellers of the categories the user buys."""
    if feed.in_favourites is None:
        return np.zeros(len(feed.candidates))
    return np.maximum(feed.in_favourites[feed.candidates], 0)


@dataclass(frozen=True)
class Score:
    reason: str
    function: Callable[[Feed], np.ndarray]


SCORES: dict[str, Score] = {
    "history": Score("bought or liked before", history),
    "variants": Score("another variant of an item you liked", variants),
    "collaborative": Score("bought together with your items", collaborative),
    "content": Score("your style", content),
    "popularity": Score("popular now", popularity),
    "favourite_categories": Score("popular in your categories", favourite_categories),
}
EXPLORATION_REASON = "something new"
CATALOG_REASON = "from the catalog"


def reason(contributions: dict[str, float]) -> str:
    """Why an item is recommended: the user's own history first, else the signal that added most."""
    if contributions["history"] > 0:
        return SCORES["history"].reason
    name = max(contributions, key=contributions.get)
    return SCORES[name].reason if contributions[name] > 0 else CATALOG_REASON
