"""50 concurrent writers of events for 30 s: nothing lost, on SQLite and on PostgreSQL.

Each writer is a separate process with its own connection (as API workers would be) that adds one
event per transaction until the time is up and counts what the database acknowledged. The check:
events in the database == events acknowledged. One writer alone is the throughput baseline.

    python benchmarks/concurrent_events.py --sqlite /tmp/bench-users.sqlite --postgres postgresql://user@host:port/db
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from pathlib import Path

import sqlalchemy as sa

from dressup.users import EventStore


def writer(url: str, number: int, seconds: float, start_at: float, results) -> None:
    events = EventStore.open(url=url)
    latencies, written = [], 0
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = start_at + seconds
    while time.time() < deadline:
        began = time.perf_counter()
        events.add(f"user-{number}", f"item-{written % 500}", "view")
        latencies.append(time.perf_counter() - began)
        written += 1
    results.put((written, statistics.median(latencies) if latencies else 0.0))


def run(url: str, writers: int, seconds: float) -> dict:
    events = EventStore.open(url=url)
    before = events.count()
    results = multiprocessing.get_context("fork").Queue()
    start_at = time.time() + 2.0
    processes = [multiprocessing.get_context("fork").Process(target=writer, args=(url, n, seconds, start_at, results))
                 for n in range(writers)]
    for process in processes:
        process.start()
    outcomes = [results.get() for _ in processes]
    for process in processes:
        process.join()
    acknowledged = sum(w for w, _ in outcomes)
    stored = events.count() - before
    return {"writers": writers, "seconds": seconds, "acknowledged": acknowledged, "stored": stored, "lost": acknowledged - stored,
            "events_per_second": round(stored / seconds, 1),
            "median_write_ms": round(1000 * statistics.median(m for _, m in outcomes), 2),
            "failed_writers": sum(p.exitcode != 0 for p in processes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", type=Path, help="SQLite file to create (removed first)")
    parser.add_argument("--postgres", help="URL of an empty PostgreSQL database")
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/concurrent_events.json"))
    args = parser.parse_args()
    urls = {}
    if args.sqlite:
        args.sqlite.unlink(missing_ok=True)
        urls["sqlite"] = f"sqlite:///{args.sqlite}"
    if args.postgres:
        urls["postgresql"] = args.postgres
    report = {}
    for name, url in urls.items():
        EventStore.open(url=url)  # migrate before the writers start
        report[name] = {"baseline (1 writer)": run(url, 1, args.seconds), f"{args.writers} writers": run(url, args.writers,
                                                                                                         args.seconds)}
        print(name, json.dumps(report[name], indent=1), flush=True)
    report["versions"] = {"sqlalchemy": sa.__version__}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
