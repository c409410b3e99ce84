"""Similar-by-id latency and ANN recall at 10k, 100k and 1M items, against brute-force NumPy.

Vectors are synthetic but shaped like real ones: a store's own index vectors (or clustered
Gaussians without a store) plus noise, at the store's index dimension. Each size builds the index
the store would build (`IndexConfig()`), wraps it in a `Store`, then times single
`Store.similar(item=ID)` calls in process, brute-force NumPy over the same vectors, and recall@10
of the index against exact search.

    python benchmarks/search_latency.py --store stores/fashion-product-images --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dressup import Store
from dressup.metrics import percentile_ms, recall_at_k
from dressup.store.vectors import FaissIndex as VectorIndex
from dressup.store.vectors import IndexConfig, exact_search


def synthetic_vectors(count: int, seeds: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """``count`` unit vectors scattered around the seed vectors, built in chunks to bound memory."""
    out = np.empty((count, seeds.shape[1]), np.float32)
    for start in range(0, count, 100_000):
        stop = min(start + 100_000, count)
        chunk = seeds[rng.integers(0, len(seeds), stop - start)]
        chunk = chunk + noise * rng.standard_normal(chunk.shape, dtype=np.float32) / np.sqrt(seeds.shape[1])
        out[start:stop] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def time_queries(search, rows: np.ndarray) -> list[float]:
    seconds = []
    for row in rows:
        started = time.perf_counter()
        search(row)
        seconds.append(time.perf_counter() - started)
    return seconds


def bench_size(vectors: np.ndarray, queries: int, rng: np.random.Generator, k: int = 10) -> dict:
    started = time.perf_counter()
    index = VectorIndex(vectors, IndexConfig())
    build_seconds = time.perf_counter() - started
    stored = index.vectors
    items = pd.DataFrame({"id": np.arange(len(stored)).astype(str), "price": np.nan, "sizes": "", "image": ""})
    store = Store(Path("(in memory)"), {"encoder": {"name": "synthetic"}}, items, index, projection=None)
    rows = rng.integers(0, len(stored), queries)

    def similar_by_id(row):
        return store.similar(item=str(row), k=k)

    def brute_force(row):
        scores = stored @ stored[row]
        top = np.argpartition(-scores, k + 1)[: k + 1]
        return top[np.argsort(-scores[top])]

    time_queries(similar_by_id, rows[:50])  # warm-up
    index_seconds = time_queries(similar_by_id, rows)
    brute_seconds = time_queries(brute_force, rows[: max(50, queries // 10)])
    found, _ = index.search(stored[rows], k)
    truth, _ = exact_search(stored, stored[rows], k)  # chunked: memory stays bounded at 1M items
    return {
        "items": len(stored),
        "dimension": stored.shape[1],
        "index": index.kind,
        "build_s": round(build_seconds, 1),
        "index_p50_ms": round(percentile_ms(index_seconds, 50), 3),
        "index_p99_ms": round(percentile_ms(index_seconds, 99), 3),
        "numpy_p50_ms": round(percentile_ms(brute_seconds, 50), 3),
        "numpy_p99_ms": round(percentile_ms(brute_seconds, 99), 3),
        "recall@10": round(recall_at_k(found, truth, k), 4),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, help="Store whose vectors seed the synthetic ones.")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dimension", type=int, default=1280, help="Without --store: vector dimension.")
    parser.add_argument("--noise", type=float, default=0.6, help="Noise around each seed vector (relative).")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/search_latency.json"))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    if args.store:
        seeds = np.array(Store.open(args.store).vectors)
    else:
        centres = rng.standard_normal((200, args.dimension)).astype(np.float32)
        seeds = centres[rng.integers(0, 200, 10_000)] + 0.5 * rng.standard_normal((10_000, args.dimension)).astype(np.float32)
    results = []
    for size in args.sizes:
        result = bench_size(synthetic_vectors(size, seeds, args.noise, rng), args.queries, rng)
        results.append(result)
        print(json.dumps(result), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"seeds": str(args.store or "gaussian clusters"), "results": results}, indent=2))


if __name__ == "__main__":
    main()
