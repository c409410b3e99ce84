"""A store of N products made from a real store: its first N items or, past its size, copies of them whose vectors
are moved a little (synthetic vectors around real ones), with ids, titles and prices of their own.

    python benchmarks/store_at_scale.py --source /work/bench/store-100k --items 1000000 --out /work/bench/store-1m

Prints the build time and the peak memory; the photos stay the source's (edits upload their own).
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
from dressup.embeddings import normalize_rows
from dressup.store.generations import store_lock, write_generation
from dressup.store.vectors import IndexConfig


def scaled(source: Store, count: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    items, embeddings = source.items, np.asarray(source.embeddings(), np.float32)
    if count <= len(items):
        return items.iloc[:count].reset_index(drop=True), embeddings[:count]
    rng = np.random.default_rng(seed)
    picks = np.concatenate([np.arange(len(items)), rng.integers(len(items), size=count - len(items))])
    copies = items.iloc[picks].reset_index(drop=True)
    copy = np.arange(count) >= len(items)
    copies.loc[copy, "id"] = [f"{item_id}-s{n}" for n, item_id in zip(np.flatnonzero(copy), copies["id"][copy])]
    copies.loc[copy, "title"] = copies["title"][copy] + " (copy)"
    copies.loc[copy, "price"] = np.round(rng.uniform(5, 150, copy.sum()), 2)
    vectors = embeddings[picks]
    noise = rng.normal(scale=0.25 / np.sqrt(vectors.shape[1]), size=vectors.shape).astype(np.float32)
    vectors[copy] = normalize_rows(vectors[copy] + noise[copy])
    return copies, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    source = Store.open(args.source)
    items, vectors = scaled(source, args.items)
    args.out.mkdir(parents=True, exist_ok=True)
    with store_lock(args.out):
        details = {"layout": source.manifest.get("layout")}
        manifest = write_generation(args.out, items, vectors, source.encoder, IndexConfig(), details)
    report = {"items": len(items), "seconds": round(time.perf_counter() - started, 1), "index": manifest["index"],
              "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
