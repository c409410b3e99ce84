"""`OutfitScorer`: how well items go together. DressUp's learned compatibility and the baselines it is measured against.

A scorer works on store rows. ``candidate_scores(outfit, candidates)`` scores each candidate as the missing piece
of ``outfit`` (fill in the blank); ``outfit_score(rows)`` scores a whole outfit. Higher is more compatible.
The baselines are fitted on stylists' outfits with ``Scorer.fit(store, outfits)``; a new one is a subclass here
plus its line in `BASELINES`, and `dressup eval outfits` reports it.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
from scipy import sparse

from ..embeddings import normalize_rows
from ..store import Store
from .data import OutfitTable
from .model import CompatibilityModel, outfit_score


class OutfitScorer(ABC):
    """Scores candidates for an outfit's blank and whole outfits, from store rows (see the module)."""

    name: ClassVar[str]

    @abstractmethod
    def candidate_scores(self, outfit: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """One score per candidate row, as the piece that completes the outfit's rows."""

    @abstractmethod
    def outfit_score(self, rows: np.ndarray) -> float:
        """How well the rows go together as one outfit (the same for any order of the rows)."""


class CompatibilityScorer(OutfitScorer):
    """DressUp's learned compatibility: cosine between an item's vector and the outfit's mean vector."""

    name = "DressUp model"

    def __init__(self, model: CompatibilityModel, store: Store, state=None):
        self.model = model
        self.vectors = model.item_vectors(state or store.state)

    def candidate_scores(self, outfit, candidates):
        return self.vectors[candidates] @ self.vectors[outfit].mean(axis=0)

    def outfit_score(self, rows):
        return outfit_score(self.vectors[rows])


class RandomScorer(OutfitScorer):
    """Chance, what any method must beat: a score drawn from the (seed, outfit, candidate) at hand, so that the same
    question always gets the same draw."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    @classmethod
    def fit(cls, store: Store, outfits: OutfitTable, seed: int = 0) -> RandomScorer:
        return cls(seed)

    def _draw(self, *rows) -> float:
        return zlib.crc32(np.asarray([self.seed, *rows], np.int64).tobytes()) / 2**32

    def candidate_scores(self, outfit, candidates):
        context = sorted(np.asarray(outfit).tolist())
        return np.array([self._draw(*context, -1, candidate) for candidate in np.asarray(candidates).tolist()])

    def outfit_score(self, rows):
        return self._draw(*sorted(np.asarray(rows).tolist()))


class PopularityScorer(OutfitScorer):
    """How often stylists used the item."""

    name = "popularity"

    def __init__(self, usage: np.ndarray):
        self.usage = usage

    @classmethod
    def fit(cls, store: Store, outfits: OutfitTable, seed: int = 0) -> PopularityScorer:
        return cls(outfits.usage(store.rows))

    def candidate_scores(self, outfit, candidates):
        return self.usage[candidates].astype(float)

    def outfit_score(self, rows):
        return float(self.usage[rows].mean())


class CoOccurrenceScorer(OutfitScorer):
    """How often stylists put the item with the outfit's items, normalised by how often each is used."""

    name = "co-occurrence"

    def __init__(self, usage: np.ndarray, together: sparse.csr_matrix):
        self.usage, self.together = usage, together

    @classmethod
    def fit(cls, store: Store, outfits: OutfitTable, seed: int = 0) -> CoOccurrenceScorer:
        n = store.rows
        pairs = [(a, b) for rows in outfits.rows for a in rows for b in rows if a != b]
        a, b = np.array(pairs).T if pairs else (np.zeros(0, int), np.zeros(0, int))
        return cls(outfits.usage(n), sparse.csr_matrix((np.ones(len(a), np.float32), (a, b)), shape=(n, n)))

    def candidate_scores(self, outfit, candidates):
        counts = np.asarray(self.together[candidates][:, outfit].todense(), float)
        norm = np.sqrt(np.outer(self.usage[candidates] + 1, self.usage[outfit] + 1))
        return (counts / norm).sum(axis=1)

    def outfit_score(self, rows):
        return float(np.mean([self.candidate_scores(rows[[i]], np.delete(rows, i)).sum() for i in range(len(rows))]))


class VisualScorer(OutfitScorer):
    """Looks alike: the mean cosine of the image embeddings."""

    name = "visual similarity"

    def __init__(self, images: np.ndarray):
        self.images = images

    @classmethod
    def fit(cls, store: Store, outfits: OutfitTable, seed: int = 0) -> VisualScorer:
        return cls(normalize_rows(np.asarray(store.embeddings(), np.float32)))

    def candidate_scores(self, outfit, candidates):
        return (self.images[candidates] @ self.images[outfit].T).mean(axis=1)

    def outfit_score(self, rows):
        return outfit_score(self.images[rows])


#: The reference scorers by name, each built with ``fit(store, outfits, seed)``.
BASELINES: dict[str, type[OutfitScorer]] = {
    scorer.name: scorer for scorer in (RandomScorer, PopularityScorer, CoOccurrenceScorer, VisualScorer)
}
