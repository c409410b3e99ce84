"""Nearest-neighbour search over normalised item vectors, with exact results under filters.

`VectorIndex` is the role every engine plays; `FaissIndex` is the default engine. Small catalogs use an
exact FAISS inner-product index; from `HNSW_THRESHOLD` items on, an HNSW graph. A filtered query that few
items satisfy is answered exactly over those items; otherwise the graph is searched with a FAISS ID selector
and, should it come back short, the query falls back to exact search, so k results come back whenever k
items satisfy the filter.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from ..embeddings import normalize_rows, principal_components

HNSW_THRESHOLD = 5_000
#: Catalogs at least this large are searched in a PCA projection of the embeddings (`IndexConfig.dimension`).
PROJECTION_THRESHOLD = 1_024
#: Below this share of allowed items, a filtered query scans them exactly instead of walking the graph.
EXACT_FILTER_SHARE = 0.2


@dataclass(frozen=True)
class IndexConfig:
    """How the index is built: `engine` names a `VectorIndex` (see `ENGINES`); `kind` is "auto", "flat" or
    "hnsw"; `dimension` is the PCA size (None: no PCA)."""

    kind: str = "auto"
    dimension: int | None = 256
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 96
    engine: str = "faiss"

    def resolve(self, count: int) -> str:
        if self.kind == "auto":
            return "hnsw" if count >= HNSW_THRESHOLD else "flat"
        if self.kind not in ("flat", "hnsw"):
            raise ValueError(f"unknown index kind {self.kind!r}: use auto, flat or hnsw")
        return self.kind

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> IndexConfig:
        """From a manifest's ``index_config``; settings it predates take their defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass(frozen=True)
class Projection:
    """PCA of the catalog's embeddings: ``apply`` centres, projects and re-normalises.

    Searching 256 principal components instead of 1,280 raw features is 5 times lighter in memory
    and time, and on Fashion Product Images it is as precise (articleType P@10 0.772 vs 0.770).
    """

    mean: np.ndarray
    components: np.ndarray  # (dimension, input dimension)

    @classmethod
    def fit(cls, embeddings: np.ndarray, dimension: int, sample: int = 50_000, seed: int = 0) -> Projection:
        rows = embeddings
        if len(rows) > sample:
            rows = rows[np.sort(np.random.default_rng(seed).choice(len(rows), sample, replace=False))]
        return cls(*principal_components(rows, dimension))

    @property
    def dimension(self) -> int:
        return self.components.shape[0]

    def apply(self, embeddings: np.ndarray, chunk: int = 65_536) -> np.ndarray:
        out = np.empty((len(embeddings), self.dimension), np.float32)
        for start in range(0, len(embeddings), chunk):
            part = (np.asarray(embeddings[start : start + chunk], np.float32) - self.mean) @ self.components.T
            out[start : start + chunk] = normalize_rows(part)
        return out

    def save(self, path: str | Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, mean=self.mean, components=self.components)

    @classmethod
    def load(cls, path: str | Path) -> Projection:
        with np.load(path) as data:
            return cls(data["mean"], data["components"])

    @classmethod
    def for_catalog(cls, embeddings: np.ndarray, config: IndexConfig) -> Projection | None:
        """The projection a catalog of these embeddings is searched in, or None for raw embeddings."""
        if config.dimension is None or len(embeddings) < PROJECTION_THRESHOLD or config.dimension >= embeddings.shape[1]:
            return None
        return cls.fit(embeddings, config.dimension)


class VectorIndex(ABC):
    """Nearest-neighbour search by inner product over rows of item vectors: the role every index engine plays.

    Rows are positions, in the order the vectors were added. ``search(queries, k, allowed)`` returns, for each
    query, the ``k`` best rows that are ``allowed`` (a boolean mask, None for all) and not removed, best first,
    as ``(rows, scores)`` arrays of shape (queries, k); when fewer rows qualify, the rest is row -1, score -inf.
    Whenever k rows qualify, k come back, however selective the mask.
    """

    kind: str  # how it searches: "flat" (exact) or "hnsw" (a graph)
    config: IndexConfig

    @property
    @abstractmethod
    def vectors(self) -> np.ndarray:
        """The vectors searched, by row (read-only; valid until the next `add`)."""

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dimension(self) -> int:
        return self.vectors.shape[1]

    @abstractmethod
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows for each query and their scores (see the class)."""

    @abstractmethod
    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Append vectors; returns their rows."""

    @abstractmethod
    def remove(self, rows: np.ndarray) -> None:
        """Never return these rows again (their positions stay taken)."""

    @abstractmethod
    def save(self, path: str | Path) -> None: ...

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path, config: IndexConfig) -> VectorIndex: ...


class _IndexVectors(np.ndarray):
    """A view of the vectors inside a FAISS index that keeps the index alive while it is used."""

    owner = None


class FaissIndex(VectorIndex):
    """The default engine: an exact FAISS scan (``flat``) or an HNSW graph, with exact answers under filters."""

    def __init__(self, vectors: np.ndarray | None, config: IndexConfig = IndexConfig(), faiss_index=None):
        import faiss

        self.config = config
        if faiss_index is None:
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            count, dimension = vectors.shape
            self.kind = config.resolve(count)
            if self.kind == "hnsw":
                faiss_index = faiss.IndexHNSWFlat(dimension, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
                faiss_index.hnsw.efConstruction = config.ef_construction
            else:
                faiss_index = faiss.IndexFlatIP(dimension)
            faiss_index.add(vectors)
        else:
            self.kind = "hnsw" if isinstance(faiss_index, faiss.IndexHNSW) else "flat"
        self._index = faiss_index
        if self.kind == "hnsw":
            self._index.hnsw.efSearch = config.ef_search
        self._removed: np.ndarray | None = None

    @property
    def vectors(self) -> np.ndarray:
        # the vectors live once in memory, inside FAISS; this is a read-only view of them
        import faiss

        storage = faiss.downcast_index(self._index.storage) if self.kind == "hnsw" else self._index
        flat = faiss.rev_swig_ptr(storage.get_xb(), self._index.ntotal * self._index.d)
        view = flat.reshape(self._index.ntotal, self._index.d).view(_IndexVectors)
        view.owner = self._index
        view.flags.writeable = False
        return view

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    def add(self, vectors: np.ndarray) -> np.ndarray:
        start = len(self)
        self._index.add(np.ascontiguousarray(np.atleast_2d(vectors), dtype=np.float32))
        if self._removed is not None:
            self._removed = np.append(self._removed, np.zeros(len(self) - start, bool))
        return np.arange(start, len(self))

    def remove(self, rows: np.ndarray) -> None:
        if self._removed is None:
            self._removed = np.zeros(len(self), bool)
        self._removed[np.asarray(rows, np.int64)] = True

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = max(0, min(k, len(self)))
        if k == 0 or len(queries) == 0:
            return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
        if self._removed is not None and self._removed.any():
            allowed = ~self._removed if allowed is None else allowed & ~self._removed
        vectors = self.vectors
        if allowed is None:
            if self.kind == "flat":  # NumPy's BLAS scan beats FAISS's flat scan for a few queries (0.6 vs 1.3 ms at 10k)
                return exact_search(vectors, queries, k)
            scores, rows = self._index.search(queries, k)
            return self._clean(rows, scores)
        rows_allowed = np.flatnonzero(allowed)
        if len(rows_allowed) == 0:
            return pad_results(np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32), k)
        if self.kind == "flat" or len(rows_allowed) <= EXACT_FILTER_SHARE * len(self) or len(rows_allowed) <= k:
            return exact_search(vectors, queries, k, rows_allowed)
        return self._search_selected(queries, k, allowed, rows_allowed, vectors)

    def _search_selected(self, queries, k, allowed, rows_allowed, vectors):
        import faiss

        bitmap = np.packbits(allowed, bitorder="little")  # must outlive the search
        selector = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        params = faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.config.ef_search, 2 * k))
        scores, rows = self._index.search(queries, k, params=params)
        rows, scores = self._clean(rows, scores)
        short = (rows < 0).any(axis=1)
        if short.any():  # the graph walk found too few allowed rows: answer those queries exactly
            rows[short], scores[short] = exact_search(vectors, queries[short], k, rows_allowed)
        return rows, scores

    @staticmethod
    def _clean(rows: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = rows.astype(np.int64)
        scores = np.where(rows < 0, -np.inf, scores).astype(np.float32)
        return rows, scores

    def save(self, path: str | Path) -> None:
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: str | Path, config: IndexConfig = IndexConfig()) -> FaissIndex:
        import faiss

        return cls(None, config, faiss_index=faiss.read_index(str(path)))


#: Index engines by name (`IndexConfig.engine`); an engine is a `VectorIndex` built as ``Engine(vectors, config)``.
ENGINES: dict[str, type[VectorIndex]] = {"faiss": FaissIndex}


def _engine(config: IndexConfig) -> type[VectorIndex]:
    if config.engine not in ENGINES:
        raise ValueError(f"unknown index engine {config.engine!r}: use one of {', '.join(ENGINES)}")
    return ENGINES[config.engine]


def create_index(vectors: np.ndarray, config: IndexConfig = IndexConfig()) -> VectorIndex:
    """A new index of ``config.engine`` over ``vectors``."""
    return _engine(config)(vectors, config)


def load_index(path: str | Path, config: IndexConfig = IndexConfig()) -> VectorIndex:
    return _engine(config).load(path, config)


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, k: int, rows: np.ndarray | None = None, max_cells: int = 16_000_000
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k by inner product over ``rows`` of ``vectors`` (all rows if None).

    Queries are scored in chunks of at most ``max_cells`` (query, row) pairs to bound memory.
    """
    candidates = vectors if rows is None else vectors[rows]
    rows = np.arange(len(vectors)) if rows is None else np.asarray(rows)
    step = max(1, max_cells // max(1, len(candidates)))
    parts = [_exact_chunk(candidates, rows, queries[start : start + step], k) for start in range(0, len(queries), step)]
    if not parts:
        return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
    return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])


def _exact_chunk(candidates: np.ndarray, rows: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = queries @ candidates.T
    take = min(k, candidates.shape[0])
    if take < candidates.shape[0]:
        top = np.argpartition(-scores, take - 1, axis=1)[:, :take]
    else:
        top = np.tile(np.arange(take), (len(queries), 1))
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    best_rows = rows[np.take_along_axis(top, order, axis=1)].astype(np.int64)
    best_scores = np.take_along_axis(top_scores, order, axis=1).astype(np.float32)
    return pad_results(best_rows, best_scores, k)


def pad_results(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Widen (queries, n) results to k columns with row -1 and score -inf."""
    missing = k - rows.shape[1]
    if missing <= 0:
        return rows, scores
    count = len(rows)
    return (
        np.hstack([rows, np.full((count, missing), -1, np.int64)]),
        np.hstack([scores, np.full((count, missing), -np.inf, np.float32)]),
    )
