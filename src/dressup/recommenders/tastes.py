"""`Tastes`: what a feed derives from one user's events, kept in memory until their events, the fitted signals or the
catalog change. A returning user's feed then reads one small number from the database (their newest event's id),
not their events, and ranks from interests already found; the same request again is answered at once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .signals import Profile

CACHED_USERS = 10_000  # tastes kept per recommender (a returning user's costs a few kB to some 100 kB)
CACHED_FEEDS = 8       # finished feeds kept per taste (one per k and filters asked for)


@dataclass
class Taste:
    """One user's profile and what their feed derives from it, whatever the filters."""

    profile: Profile
    centres: np.ndarray | None = None           # interests (unit vectors) and their shares
    shares: np.ndarray | None = None
    together_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # bought together with their items
    together_values: np.ndarray = field(default_factory=lambda: np.empty(0))
    category_shares: np.ndarray | None = None   # by category code + 1: how much of their taste is in it, at most 1
    variant_pool: np.ndarray | None = None      # rows of the variant groups of their items
    _neighbours: tuple | None = field(default=None, repr=False)  # (allowed mask, rows found around the interests)
    _feeds: dict = field(default_factory=dict, repr=False)

    def neighbours(self, allowed: np.ndarray | None, search: Callable[[], np.ndarray], keep: bool) -> np.ndarray:
        """The index rows around the interests under ``allowed``; with ``keep`` (the catalog's open mask, the same
        object for every unfiltered request on one catalog state), found once."""
        if self._neighbours is not None and self._neighbours[0] is allowed:
            return self._neighbours[1]
        found = search()
        if keep:
            self._neighbours = (allowed, found)
        return found

    def feed(self, request: tuple, make: Callable[[], list]) -> list:
        """The finished feed for ``request`` (k and filters), made once."""
        if (done := self._feeds.get(request)) is None:
            done = make()
            if len(self._feeds) >= CACHED_FEEDS:
                self._feeds.clear()
            self._feeds[request] = done
        return list(done)


class Tastes:
    """A bounded, thread-safe map of user -> `Taste`, each valid for one (events version, signals, catalog state)."""

    def __init__(self, size: int = CACHED_USERS):
        self.size = size
        self._entries: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user: str, version, signals, state) -> Taste | None:
        with self._lock:
            entry = self._entries.get(user)
            if entry is None or entry[0] != version or entry[1] is not signals or entry[2] is not state:
                return None
            self._entries.move_to_end(user)
            return entry[3]

    def put(self, user: str, version, signals, state, taste: Taste) -> None:
        with self._lock:
            self._entries[user] = (version, signals, state, taste)
            self._entries.move_to_end(user)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
