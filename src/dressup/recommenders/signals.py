"""What the recommender learns from all users' events: popularity, co-purchases, variant groups, and profiles.

Everything here is fitted from an events table (user, item, kind, value, timestamp) in a second or so per
million events, and is plain NumPy/SciPy: no training step, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

LONG_RUN_SHARE = 0.2      # of popularity that comes from all-time counts
CO_PURCHASE_NEIGHBOURS = 100  # partners kept per item: the strongest, so memory follows the catalog, not the events
BLOCK_CELLS = 8_000_000   # (item, item) cells one block of the co-purchase product may hold
MIN_RECENT_SUPPORT = 5.0  # decayed events the most popular item needs to count as fully "popular now"
EVENT_WEIGHTS = {"purchase": 1.0, "cart": 0.6, "like": 0.8, "view": 0.15, "dislike": -1.0}
"""How much each kind of event says about a user's taste; ratings weigh (value - 3) / 2, from -1 to +1."""


def event_weights(events: pd.DataFrame, as_of: pd.Timestamp, half_life_days: float, weights: dict | None = None) -> np.ndarray:
    """Each event's signed weight: its kind (or rating) times a recency decay halving every ``half_life_days``."""
    weights = weights or EVENT_WEIGHTS
    kinds = events["kind"].to_numpy(dtype=object)
    base = np.zeros(len(kinds))  # NumPy, not pandas: a user's few events are weighted on every request
    for kind, weight in weights.items():
        base[kinds == kind] = weight
    ratings = kinds == "rating"
    base[ratings] = (events["value"].to_numpy(dtype=float)[ratings] - 3.0) / 2.0
    age = (np.datetime64(pd.Timestamp(as_of).to_datetime64(),
                         "ns") - events["timestamp"].to_numpy("datetime64[ns]")) / np.timedelta64(1, "D")
    return np.nan_to_num(base) * 0.5 ** (np.maximum(age, 0.0) / half_life_days)


@dataclass
class Profile:
    """One user's taste: the items they acted on, with signed weights (negative = disliked)."""

    rows: np.ndarray     # store rows, unique
    weights: np.ndarray  # summed signed weight per row
    bought_once: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # rows a once-buyer bought

    @property
    def liked(self) -> np.ndarray:
        return self.rows[self.weights > 0]

    @property
    def disliked(self) -> np.ndarray:
        return self.rows[self.weights < 0]

    @classmethod
    def of(cls, rows: np.ndarray, weights: np.ndarray, bought_once: np.ndarray | None = None) -> Profile:
        """From event rows and weights; ``bought_once``: the rows bought, for a user in `once_buyers`."""
        keep = rows >= 0
        unique, inverse = np.unique(rows[keep], return_inverse=True)
        bought_once = np.unique(bought_once[bought_once >= 0]) if bought_once is not None else np.empty(0, np.int64)
        return cls(unique, np.bincount(inverse, weights=weights[keep], minlength=len(unique)), bought_once)


def once_buyers(events: pd.DataFrame) -> set:
    """Users who bought, but never the same item on two different days. Such customers rebuy less than half as
    often as those who have (6% against 16% of the H&M sample's customers within the next 12 weeks)."""
    bought = events["kind"].to_numpy(dtype=object) == "purchase"  # plain Python: 0.6 ms for 90 events, 3 ms with a groupby
    users = events["user"].to_numpy(dtype=object)[bought]
    days = events["timestamp"].to_numpy("datetime64[D]")[bought]
    first_day, again = {}, set()
    for user, item, day in zip(users, events["item"].to_numpy(dtype=object)[bought], days):
        if first_day.setdefault((user, item), day) != day:
            again.add(user)
    return set(users) - again


def interests(vectors: np.ndarray, weights: np.ndarray, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A user's several interests: weighted k-means of the vectors of the items they liked, with each
    cluster's share of the weight. Few items: each item is an interest of its own."""
    if len(vectors) <= count:
        return vectors, weights / weights.sum()
    rng = np.random.default_rng(seed)
    centres = vectors[rng.choice(len(vectors), count, replace=False, p=weights / weights.sum())]
    for _ in range(8):
        assigned = np.argmax(vectors @ centres.T, axis=1)
        for cluster in range(count):
            members = assigned == cluster
            if members.any():
                centre = (vectors[members] * weights[members, None]).sum(axis=0)
                centres[cluster] = centre / max(np.linalg.norm(centre), 1e-12)
    assigned = np.argmax(vectors @ centres.T, axis=1)
    shares = np.bincount(assigned, weights=weights, minlength=count)
    keep = shares > 0
    return centres[keep], shares[keep] / shares.sum()


@dataclass
class Signals:
    """Catalog-wide statistics fitted on all users' events."""

    popularity: np.ndarray          # recent (decayed) and all-time positive events per row, at most 1
    co_occurrence: sparse.csr_matrix  # row x row, cosine-normalised count of users who liked both
    as_of: pd.Timestamp
    _resized: dict = field(default_factory=dict, repr=False)

    def resized(self, rows: int) -> Signals:
        """The signals over ``rows`` rows: rows added to the store since the fit have no events yet."""
        if rows == len(self.popularity):
            return self
        if rows not in self._resized:
            extra = rows - len(self.popularity)
            co = self.co_occurrence
            indptr = np.concatenate([co.indptr, np.full(extra, co.indptr[-1])])
            self._resized = {rows: Signals(np.concatenate([self.popularity, np.zeros(extra)]),
                                           sparse.csr_matrix((co.data, co.indices, indptr), shape=(rows, rows)), self.as_of)}
        return self._resized[rows]

    @classmethod
    def fit(cls, rows: np.ndarray, users: np.ndarray, weights: np.ndarray, timestamps: pd.Series, items: int,
            as_of: pd.Timestamp, popularity_half_life_days: float) -> Signals:
        counts = SignalCounts(items, as_of, popularity_half_life_days)
        counts.add(rows, users, weights, timestamps)
        return counts.signals()


class SignalCounts:
    """`Signals` fitted on events that arrive in chunks: counts per item and an 8-byte code per user-item pair
    (once per chunk) are kept, not the events."""

    def __init__(self, items: int, as_of: pd.Timestamp, popularity_half_life_days: float):
        self.items, self.as_of, self.half_life = items, as_of, popularity_half_life_days
        self.recent, self.ever = np.zeros(items), np.zeros(items)
        self._users: dict[str, int] = {}
        self._pairs: list[np.ndarray] = []  # user code * items + row, unique within a chunk

    def add(self, rows: np.ndarray, users: np.ndarray, weights: np.ndarray, timestamps: pd.Series) -> None:
        """Count a chunk of events: store rows (-1 for items not in the store), user ids, signed weights, times."""
        positive = (weights > 0) & (rows >= 0)
        rows, users, timestamps = rows[positive], users[positive], timestamps[positive]
        age = (self.as_of - timestamps).dt.total_seconds().to_numpy() / 86_400.0
        self.recent += np.bincount(rows, weights=0.5 ** (np.maximum(age, 0) / self.half_life), minlength=self.items)
        self.ever += np.bincount(rows, minlength=self.items)
        local, names = pd.factorize(pd.Series(users))
        codes = np.array([self._users.setdefault(name, len(self._users)) for name in names], dtype=np.int64)
        self._pairs.append(np.unique(codes[local] * self.items + rows))

    def signals(self) -> Signals:
        # recent sales, but a handful of fresh events after a quiet spell must not outweigh the long-run best-sellers
        popularity = (1 - LONG_RUN_SHARE) * self.recent / max(self.recent.max(initial=0), MIN_RECENT_SUPPORT)
        popularity += LONG_RUN_SHARE * self.ever / max(self.ever.max(initial=0), 1.0)
        pairs = np.unique(np.concatenate(self._pairs)) if self._pairs else np.empty(0, np.int64)
        liked = sparse.csr_matrix((np.ones(len(pairs)), (pairs // self.items, pairs % self.items)),
                                  shape=(len(self._users), self.items))  # did the user like the item at all, not how often
        return Signals(popularity, co_purchases(liked, CO_PURCHASE_NEIGHBOURS), self.as_of)


def co_purchases(liked: sparse.csr_matrix, neighbours: int) -> sparse.csr_matrix:
    """Item x item: the cosine-normalised count of users who liked both, keeping each item's ``neighbours`` strongest
    partners. Computed a block of items at a time, so the whole product, which grows with the purchases until the
    catalog's every pair is in it, never sits in memory (benchmarks/co_purchase_scale.py)."""
    items = liked.shape[1]
    degree = np.sqrt(np.asarray(liked.sum(axis=0)).ravel()) + 1e-12
    by_item = liked.T.tocsr()
    step = max(1, BLOCK_CELLS // max(items, 1))
    blocks = []
    for start in range(0, items, step):
        block = (by_item[start : start + step] @ liked).tocoo()
        rows, cols = block.row + start, block.col
        partner = rows != cols
        rows, cols = rows[partner], cols[partner]
        block = sparse.csr_matrix((block.data[partner] / (degree[rows] * degree[cols]), (rows - start, cols)), shape=block.shape)
        blocks.append(_strongest_per_row(block, neighbours))
    return sparse.vstack(blocks, format="csr") if blocks else sparse.csr_matrix((0, 0))


def _strongest_per_row(matrix: sparse.csr_matrix, count: int) -> sparse.csr_matrix:
    """``matrix`` with only the ``count`` largest values of each row."""
    keep = np.ones(matrix.nnz, bool)
    for row in np.flatnonzero(np.diff(matrix.indptr) > count):  # few rows with sparse data; each one partitioned
        low, high = matrix.indptr[row], matrix.indptr[row + 1]
        weakest = np.argpartition(-matrix.data[low:high], count - 1)[count:]
        keep[low + weakest] = False
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    return sparse.csr_matrix((matrix.data[keep], (rows[keep], matrix.indices[keep])), shape=matrix.shape)


def variant_groups(state, column: str | None) -> np.ndarray | None:
    """Each row's variant group (the same product in other colours), from a column such as H&M's product_code, for
    a store's `LiveState` (kept with it)."""
    if column is None:
        return None

    def make():
        codes = state.codes(column).copy()
        missing = codes < 0
        codes[missing] = -1 - np.arange(missing.sum())  # an item with no code is a group of its own
        return codes

    return state.derived(("variant groups", column), make)
