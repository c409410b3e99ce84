"""Text search latency in process, one query at a time, per mode, beside similar-by-id in the same run.

Queries: "<colour> <type>" of the store's common pairs (what a shopper types) and items' descriptions (long
texts). For a store past the catalog's size, make one with `benchmarks/store_at_scale.py`:

    python benchmarks/store_at_scale.py --source /tmp/stores/hm --items 100000 --out /tmp/stores/hm-100k
    python benchmarks/text_search_latency.py --store /tmp/stores/hm-100k --description detail_desc
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dressup import Store
from dressup.metrics import percentile_ms

MODES = ("hybrid", "keywords", "visual")


def timed(call, queries: list) -> dict:
    call(queries[0])  # warm: the keyword index and the tower are loaded on first use
    seconds = []
    for query in queries:
        started = time.perf_counter()
        call(query)
        seconds.append(time.perf_counter() - started)
    return {"p50_ms": percentile_ms(seconds, 50), "p99_ms": percentile_ms(seconds, 99), "queries": len(queries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--description", default="title", help="the attribute long queries are taken from")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    store = Store.open(args.store)
    items = store.items
    opened = time.perf_counter() - started
    rng = np.random.default_rng(0)
    pairs = items[["colour", "category"]].dropna().value_counts().index[: args.queries]
    short = [f"{colour} {kind}".lower() for colour, kind in pairs]
    column = items[args.description] if args.description in items.columns else items[f"attr:{args.description}"]
    texts = column.dropna().astype(str)
    long = texts.iloc[rng.choice(len(texts), min(args.queries, len(texts)), replace=False)].tolist()
    ids = items["id"].iloc[rng.choice(len(items), args.queries, replace=False)].tolist()
    report = {"store": str(args.store), "items": len(items), "open_seconds": round(opened, 2), "results": {}}
    report["results"]["similar-by-id (baseline)"] = timed(lambda i: store.similar(i, k=10), ids)
    for mode in MODES:
        report["results"][f"{mode}: <colour> <type>"] = timed(lambda q, m=mode: store.search(q, k=10, mode=m), short)
        report["results"][f"{mode}: description"] = timed(lambda q, m=mode: store.search(q, k=10, mode=m), long)
    for name, figures in report["results"].items():
        print(f"{name:32s} {json.dumps(figures)}", flush=True)
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
