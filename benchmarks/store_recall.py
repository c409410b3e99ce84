"""Recall@10 of a store's own index against exact search over the same vectors, with and without filters.

Opens ``--store`` as a server would (its index as saved: HNSW, 8-bit codes re-scored from disk at 1M), asks
``--queries`` similar-by-id questions of random items, and compares each answer with brute-force search over the
store's float32 vectors (excluding the query item, like `Store.similar`).

    python benchmarks/store_recall.py --store /work/bench/store-1m --queries 500
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dressup import Filters, Store
from dressup.metrics import percentile_ms
from dressup.store.vectors import exact_search

FILTERS = {"none": None, "gender=Women": Filters(where={"gender": "Women"}),
           "category=Shirts, price<=50": Filters(where={"category": "Shirts"}, max_price=50)}


def recall(store: Store, vectors: np.ndarray, rows: np.ndarray, filters: Filters | None, k: int = 10) -> dict:
    allowed = store.mask(filters)
    allowed = np.ones(len(vectors), bool) if allowed is None else allowed
    hits, total, seconds = 0, 0, []
    for row in rows:
        began = time.perf_counter()
        found, _ = store.search_vectors(vectors[row][None, :], k, filters, exclude=[row])
        seconds.append(time.perf_counter() - began)
        permitted = allowed.copy()
        permitted[row] = False
        truth, _ = exact_search(vectors, vectors[row][None, :], k, np.flatnonzero(permitted))
        wanted = set(truth[0][truth[0] >= 0].tolist())
        hits += len(wanted & set(found[0].tolist()))
        total += len(wanted)
    return {"recall_at_10": round(hits / max(total, 1), 4), "allowed": int(allowed.sum()), "p50_ms": percentile_ms(seconds, 50),
            "p99_ms": percentile_ms(seconds, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    store = Store.open(args.store)
    vectors = store.state.index.vectors_of(np.arange(store.state.rows))
    rows = np.random.default_rng(1).choice(np.flatnonzero(store.state.alive), args.queries, replace=False)  # seed 0 chose the ef
    index = store.state.index
    result = {"store": str(args.store), "items": len(store), "index": index.kind,
              "quantised": bool(getattr(index, "quantised", False)), "queries": args.queries,
              "filters": {name: recall(store, vectors, rows, f) for name, f in FILTERS.items()}}
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
