"""A feed's latency against the size of its user's history, in process: users with 5, 200, 2,000, 20,000 and
100,000 view events (plus one like), on a copy of a store with its events.

Each timed feed follows a fresh event of its user, so it is ranked afresh (not the feed kept from the previous
request); the kept feed (the same request again) is timed too. A feed reads the user's newest `HISTORY_EVENTS`
events, so the cost must flatten past that. Medians of ``--repeats`` feeds.

    python benchmarks/feed_history_size.py --store stores/hm --output benchmarks/results/feed_history_size.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from dressup import Store
from dressup.recommenders import DressUpRecommender
from dressup.recommenders.base import HISTORY_EVENTS
from dressup.users import EventStore

SIZES = (5, 200, 2_000, 20_000, 100_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    threadpool_limits(1)  # as a server worker runs
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store"
        shutil.copytree(args.store, store, ignore=shutil.ignore_patterns("work"))
        ids = Store.open(store).items["id"].to_numpy()
        events = EventStore.open(store)
        rng = np.random.default_rng(0)
        for size in SIZES:
            moments = pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 200 * 86400, size), "s")
            events.add_chunks([pd.DataFrame({"user": f"user-{size}", "item": rng.choice(ids, size), "kind": "view",
                                             "value": np.nan, "timestamp": moments})])
            events.add(f"user-{size}", ids[size % len(ids)], "like")
        recommender = DressUpRecommender.open(store)
        recommender.recommend("user-5")  # the catalog-wide fit, once
        results = {}
        for size in SIZES:
            user, fresh, kept = f"user-{size}", [], []
            for step in range(args.repeats):
                events.add(user, ids[(7 * step) % len(ids)], "view")
                began = time.perf_counter()
                recommender.recommend(user, k=12)
                fresh.append(time.perf_counter() - began)
                began = time.perf_counter()
                recommender.recommend(user, k=12)
                kept.append(time.perf_counter() - began)
            results[size] = {"after_a_new_event_ms": round(1000 * float(np.median(fresh)), 2),
                             "same_request_again_ms": round(1000 * float(np.median(kept)), 2)}
            print(f"{size:>7,} events: {json.dumps(results[size])}", flush=True)
    report = {"store": str(args.store), "history_events_read": HISTORY_EVENTS, "repeats": args.repeats,
              "threads": 1, "results": results}
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
