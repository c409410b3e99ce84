"""What business rules cost a request: similar items and feeds with no rules, and with four (boost, bury, pin, hide),
against the ranking alone, in one process, medians of many calls (ratios: this machine's speed varies).

    python benchmarks/rules_overhead.py --store stores/hm [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from dressup.shop import Shop


def median_ms(call, inputs) -> float:
    times = []
    for value in inputs:
        start = time.perf_counter()
        call(value)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "rules_overhead.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        store = Path(work) / "store"
        shutil.copytree(args.store, store)
        shop = Shop(store, check_every=3600)  # the settings are read once, as a server's watcher would
        generation = shop.generation
        ids = [str(i) for i in generation.state.ids[generation.state.alive][: args.calls]]
        state = generation.state
        category = str(generation.item(ids[0]).category)
        colour = str(generation.item(ids[1]).colour)
        rules = {"rules": [{"action": "boost", "when": [f"colour={colour}"], "positions": 3},
                           {"action": "bury", "when": [f"colour!={colour}", "price<=0.01"], "positions": 2},
                           {"action": "pin", "item": ids[5], "slot": 2, "surfaces": ["similar", "feed", "search"]},
                           {"action": "hide", "when": [f"category={category}"]}]}
        figures = {}
        for _ in range(3):  # alternate, so that a change of the machine's speed hits every case alike
            for name, call in (("ranking alone", lambda i: generation.store.similar(item=i, k=10, state=state)),
                               ("no rules", lambda i: generation.similar_to_item(i, k=10))):
                figures.setdefault(name, []).append(median_ms(call, ids))
            shop.set_rules(rules)
            figures.setdefault("four rules", []).append(median_ms(lambda i: shop.generation.similar_to_item(i, k=10), ids))
            shop.set_rules({"rules": []})
        result = {name: round(statistics.median(values), 3) for name, values in figures.items()}
        base = result["ranking alone"]
        result.update({f"{name} / ranking alone": round(result[name] / base, 3) for name in ("no rules", "four rules")})
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"store": str(args.store), "items": len(ids), "similar_ms": result}, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
