"""Outfit completion: for cart items that a stylists' outfit holds, how often `outfits complete` offers one first;
for random cart items, the generated outfits' mean compatibility (the model's score of the whole outfit) and the time
per request; and how fast a filter that leaves nothing to add is answered.

    dressup outfits train --store stores/mango --outfits ../shared/data/mango-outfits/outfits.csv
    python benchmarks/stylist_outfits.py --store stores/mango
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from dressup.outfits import OutfitError, OutfitModel
from dressup.store.filters import Filters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--items", type=int, default=500, help="cart items drawn from the stylists' outfits (seed 0)")
    args = parser.parse_args()
    model = OutfitModel.load(args.store)
    rows = np.random.default_rng(0).choice(sorted(model.looks_of), min(args.items, len(model.looks_of)), replace=False)
    first, seconds = [], []
    for item in model.state.ids_of(rows):
        started = time.perf_counter()
        outfits = model.complete([item], n=3)
        seconds.append(time.perf_counter() - started)
        first.append(bool(outfits) and outfits[0].source == "stylist")
    generated, times = [], []
    for item in model.state.ids_of(np.random.default_rng(1).choice(model.state.rows, 300, replace=False)):
        started = time.perf_counter()
        generated += [o.score for o in model.complete([item], n=3) if o.source == "generated"]
        times.append(time.perf_counter() - started)
    item = model.state.ids_of(rows[:1])[0]
    nothing = []
    for _ in range(5):
        started = time.perf_counter()
        try:
            model.complete([item], n=3, filters=Filters(where={"colour": ["No such colour"]}))
        except OutfitError:
            pass
        nothing.append(time.perf_counter() - started)
    print(json.dumps({"looks": len(model.looks), "cart_items": len(rows), "stylist_first": round(float(np.mean(first)), 4),
                      "complete_ms_p50": round(1000 * statistics.median(seconds), 1),
                      "no_match_filter_ms_p50": round(1000 * statistics.median(nothing), 2),
                      "generated_outfits": len(generated), "generated_mean_score": round(float(np.mean(generated)), 4),
                      "random_cart_ms_p50": round(1000 * statistics.median(times), 1)}))


if __name__ == "__main__":
    main()
