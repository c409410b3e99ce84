"""What a feed costs right after new events arrive on a large database: the refit runs in the background (three
feeds while it runs), against the refit a request paid itself before (`Recommender.refit()` then the feed). Medians
over --rounds.

    python benchmarks/refit_latency.py --store STORE --database sqlite:///BIG.sqlite   # e.g. import_scale's 1M events

Each round adds one purchase (to a copy you can spare: the database gains --rounds * 2 events).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path

from dressup.recommenders import DressUpRecommender, RecommenderConfig
from dressup.store import Store
from dressup.users import EventStore


def timed(work, *arguments) -> float:
    began = time.perf_counter()
    work(*arguments)
    return time.perf_counter() - began


def refit_then_recommend(recommender: DressUpRecommender, user: str) -> None:
    recommender.refit()
    recommender.recommend(user, 12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--database", required=True, help="a database URL with many events")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "refit_latency.json")
    args = parser.parse_args()
    store, events = Store.open(args.store), EventStore.open(url=args.database)
    users = events.users()[: args.rounds]
    recommender = DressUpRecommender(store, events, RecommenderConfig(refit_seconds=0))
    fit = timed(recommender.signals)
    background, in_request = [], []
    for round_, user in enumerate(users):
        events.add(f"bench-{uuid.uuid4().hex[:8]}", store.ids[round_], "purchase")
        background += [timed(recommender.recommend, user, 12) for _ in range(3)]  # while the refit runs
        recommender.refit()  # waits for the background refit: the next round starts with none running
        events.add(f"bench-{uuid.uuid4().hex[:8]}", store.ids[round_], "purchase")
        in_request.append(timed(refit_then_recommend, recommender, user))
    result = {"events": events.count(), "first_fit_s": round(fit, 2),
              "feed_after_new_event_ms": {"refit_in_background": round(1000 * statistics.median(background), 1),
                                          "refit_in_background_slowest": round(1000 * max(background), 1),
                                          "refit_in_the_request": round(1000 * statistics.median(in_request), 1)}}
    print(json.dumps(result))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
