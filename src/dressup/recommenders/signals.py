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
CHOOSING_KINDS = ("like", "cart", "purchase", "rating")  # an item so chosen is not recommended back to its user
REBUY_PRIOR = 20.0  # purchases' worth of the catalog-wide rebuy rate that a category's own rate is blended with


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


def liked_items(events: pd.DataFrame) -> list[str]:
    """The items a user likes now: their latest like, dislike or rating of each is a like or a rating of 4-5.

    >>> table = pd.DataFrame({"item": ["a", "b", "a", "c"], "kind": ["like", "like", "dislike", "rating"],
    ...                       "value": [None, None, None, 5]})
    >>> liked_items(table)
    ['b', 'c']
    """
    opinions = events[events["kind"].isin(["like", "dislike", "rating"])]
    latest = opinions.drop_duplicates("item", keep="last")
    likes = (latest["kind"] == "like") | ((latest["kind"] == "rating") & (pd.to_numeric(latest["value"]) >= 4))
    return [str(item) for item in latest.loc[likes, "item"]]


@dataclass
class Profile:
    """One user's taste: the items they acted on, with signed weights (negative = disliked)."""

    rows: np.ndarray     # store rows, unique
    weights: np.ndarray  # summed signed weight per row
    bought_once: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # rows a once-buyer bought
    chosen: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # rows liked, carted, rated or bought
    bought: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # rows bought

    @property
    def liked(self) -> np.ndarray:
        return self.rows[self.weights > 0]

    @property
    def disliked(self) -> np.ndarray:
        return self.rows[self.weights < 0]

    @classmethod
    def of(cls, rows: np.ndarray, weights: np.ndarray, bought_once: np.ndarray | None = None,
           kinds: np.ndarray | None = None) -> Profile:
        """From event rows and weights; ``bought_once``: the rows bought, for a user in `once_buyers`; ``kinds``: each
        event's kind (without them every positive row counts as chosen and none as bought)."""
        keep = rows >= 0
        unique, inverse = np.unique(rows[keep], return_inverse=True)
        summed = np.bincount(inverse, weights=weights[keep], minlength=len(unique))
        bought_once = np.unique(bought_once[bought_once >= 0]) if bought_once is not None else np.empty(0, np.int64)
        if kinds is None:
            chosen, bought = unique[summed > 0], np.empty(0, np.int64)
        else:
            kinds = np.asarray(kinds, dtype=object)[keep]
            chosen = np.unique(rows[keep][np.isin(kinds, CHOOSING_KINDS)])
            bought = np.unique(rows[keep][kinds == "purchase"])
        return cls(unique, summed, bought_once, chosen, bought)


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
    buyers: np.ndarray | None = None    # per row: users who bought it
    rebuyers: np.ndarray | None = None  # per row: users who bought it on two days or more
    _resized: dict = field(default_factory=dict, repr=False)
    _rates: tuple | None = field(default=None, repr=False)  # (category codes, rebuy rate per row)

    def rebuy_rates(self, codes: np.ndarray) -> np.ndarray:
        """Per row, how often a buyer of its group (a category code per row, -1 for none) bought the same item again
        on another day, as a multiple of the catalog's rate (the group's rate blended with the catalog's,
        `REBUY_PRIOR`); kept for the same codes."""
        if self._rates is None or self._rates[0] is not codes:
            self._rates = (codes, self._rebuy_rates(codes))
        return self._rates[1]

    def _rebuy_rates(self, codes: np.ndarray) -> np.ndarray:
        buyers = self.buyers if self.buyers is not None else np.zeros(len(codes))
        rebuyers = self.rebuyers if self.rebuyers is not None else np.zeros(len(codes))
        overall = rebuyers.sum() / max(buyers.sum(), 1.0)
        groups = codes + 1
        size = groups.max(initial=0) + 1
        bought = np.bincount(groups, weights=buyers[: len(groups)], minlength=size)
        again = np.bincount(groups, weights=rebuyers[: len(groups)], minlength=size)
        return ((again + REBUY_PRIOR * overall) / (bought + REBUY_PRIOR))[groups] / max(overall, 1e-12)

    def resized(self, rows: int) -> Signals:
        """The signals over ``rows`` rows: rows added to the store since the fit have no events yet."""
        if rows == len(self.popularity):
            return self
        if rows not in self._resized:
            extra = rows - len(self.popularity)
            co = self.co_occurrence
            indptr = np.concatenate([co.indptr, np.full(extra, co.indptr[-1])])
            grown = [None if a is None else np.concatenate([a, np.zeros(extra)]) for a in (self.buyers, self.rebuyers)]
            self._resized = {rows: Signals(np.concatenate([self.popularity, np.zeros(extra)]),
                                           sparse.csr_matrix((co.data, co.indices, indptr), shape=(rows, rows)), self.as_of,
                                           *grown)}
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
        self._purchases: list[np.ndarray] = []  # (user code * items + row, day) of purchases, unique within a chunk

    def add(self, rows: np.ndarray, users: np.ndarray, weights: np.ndarray, timestamps: pd.Series,
            kinds: np.ndarray | None = None) -> None:
        """Count a chunk of events: store rows (-1 for items not in the store), user ids, signed weights, times, and
        (for rebuy rates) kinds."""
        positive = (weights > 0) & (rows >= 0)
        rows, users, timestamps = rows[positive], users[positive], timestamps[positive]
        age = (self.as_of - timestamps).dt.total_seconds().to_numpy() / 86_400.0
        self.recent += np.bincount(rows, weights=0.5 ** (np.maximum(age, 0) / self.half_life), minlength=self.items)
        self.ever += np.bincount(rows, minlength=self.items)
        local, names = pd.factorize(pd.Series(users))
        codes = np.array([self._users.setdefault(name, len(self._users)) for name in names], dtype=np.int64)
        self._pairs.append(np.unique(codes[local] * self.items + rows))
        if kinds is not None:
            bought = np.asarray(kinds, dtype=object)[positive] == "purchase"
            days = timestamps.to_numpy("datetime64[D]").astype(np.int64)[bought]
            pairs = codes[local][bought] * self.items + rows[bought]
            self._purchases.append(np.unique(np.stack([pairs, days], axis=1), axis=0))

    def signals(self) -> Signals:
        # recent sales, but a handful of fresh events after a quiet spell must not outweigh the long-run best-sellers
        popularity = (1 - LONG_RUN_SHARE) * self.recent / max(self.recent.max(initial=0), MIN_RECENT_SUPPORT)
        popularity += LONG_RUN_SHARE * self.ever / max(self.ever.max(initial=0), 1.0)
        pairs = np.unique(np.concatenate(self._pairs)) if self._pairs else np.empty(0, np.int64)
        liked = sparse.csr_matrix((np.ones(len(pairs)), (pairs // self.items, pairs % self.items)),
                                  shape=(len(self._users), self.items))  # did the user like the item at all, not how often
        return Signals(popularity, co_purchases(liked, CO_PURCHASE_NEIGHBOURS), self.as_of, *self._rebuys())

    def _rebuys(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row, its buyers and those who bought it on two days or more."""
        buyers, rebuyers = np.zeros(self.items), np.zeros(self.items)
        if self._purchases:
            bought = np.unique(np.concatenate(self._purchases), axis=0)
            pairs, days = np.unique(bought[:, 0], return_counts=True)
            buyers += np.bincount(pairs % self.items, minlength=self.items)
            rebuyers += np.bincount(pairs[days > 1] % self.items, minlength=self.items)
        return buyers, rebuyers


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


def variant_members(state, column: str):
    """``members(group) -> rows`` of a variant group, from an index sorted once per `LiveState` (kept with it)."""
    def make():
        groups = variant_groups(state, column)
        order = np.argsort(groups, kind="stable")
        sorted_groups = groups[order]

        def members(group) -> np.ndarray:
            low = np.searchsorted(sorted_groups, group, side="left")
            return order[low : np.searchsorted(sorted_groups, group, side="right")]
        return members

    return state.derived(("variant members", column), make)
