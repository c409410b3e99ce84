"""Personal feeds scored on many time windows: MAP@12 of DressUp against the best baseline of each window.

One split date per month; each window trains on every event before its date and scores the purchases of the
next ``--days`` days (cut at the end of the data). This is `dressup eval personalization --split-date D
--end-date D+days` for every D, in one run, with a summary: the ratio per window and their geometric mean.

    python benchmarks/personalization_windows.py --store STORE --events ../shared/data/hm-sample/transactions.csv \
        --first 2019-10-01 --last 2020-06-01 --days 84
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pandas as pd

from dressup.evaluation.personalization import MODEL, UNDIVERSIFIED, evaluate_personalization
from dressup.recommenders import RecommenderConfig
from dressup.store import Store
from dressup.users import read_events


def windows(store: Store, events: pd.DataFrame, splits: list[pd.Timestamp], days: int) -> list[dict]:
    end_of_data = events["timestamp"].max() + pd.Timedelta(days=1)
    rows = []
    for split in splits:
        end = min(split + pd.Timedelta(days=days), end_of_data.normalize())
        report, _ = evaluate_personalization(store, events, split, 12, end, RecommenderConfig())
        baseline, value = report.best_baseline()
        rows.append({"split_date": str(split.date()), "end_date": str(end.date()), "users": report.test_users,
                     "best_baseline": baseline, "baseline_map": value, "dressup_map": report.methods[MODEL]["map"],
                     "undiversified_map": report.methods[UNDIVERSIFIED]["map"],
                     "ratio": report.methods[MODEL]["map"] / value if value else None,
                     "ratio_interval": report.map_ratio_interval,
                     "undiversified_ratio": report.methods[UNDIVERSIFIED]["map"] / value if value else None})
        print(f"{rows[-1]['split_date']} to {rows[-1]['end_date']}: {report.test_users} users, best baseline "
              f"{value:.4f} ({baseline}), DressUp {rows[-1]['dressup_map']:.4f} = {_ratio(rows[-1]['ratio'])} "
              f"(95% interval {_interval(report.map_ratio_interval)}) "
              f"(undiversified {_ratio(rows[-1]['undiversified_ratio'])})", flush=True)
    return rows


def _ratio(value: float | None) -> str:
    return "n/a (baseline MAP 0)" if value is None else f"{value:.2f}x"


def _interval(bounds: tuple[float, float] | None) -> str:
    return "n/a" if bounds is None else f"{bounds[0]:.2f}-{bounds[1]:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--events", required=True)
    parser.add_argument("--first", default="2019-10-01", help="first split date (a month start)")
    parser.add_argument("--last", default="2020-06-01", help="last split date")
    parser.add_argument("--days", type=int, default=84, help="days of purchases scored after each split date")
    parser.add_argument("--output", default="benchmarks/results/personalization_windows.json")
    args = parser.parse_args()
    store = Store.open(args.store)
    events, _ = read_events(args.events)
    events = events.assign(timestamp=events["timestamp"].dt.tz_convert(None))
    started = time.perf_counter()
    rows = windows(store, events, list(pd.date_range(args.first, args.last, freq="MS")), args.days)
    ratios = [r["ratio"] for r in rows if r["ratio"]]
    summary = {"windows": rows, "days": args.days, "geometric_mean_ratio": statistics.geometric_mean(ratios),
               "geometric_mean_undiversified_ratio":
                   statistics.geometric_mean([r["undiversified_ratio"] for r in rows if r["ratio"]]),
               "seconds": round(time.perf_counter() - started, 1)}
    print(f"geometric mean of the ratios: {summary['geometric_mean_ratio']:.2f}x "
          f"(undiversified {summary['geometric_mean_undiversified_ratio']:.2f}x) over {len(ratios)} windows")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(summary, indent=2))
    temporary.replace(output)


if __name__ == "__main__":
    main()
