"""`dressup events import` and the first `dressup recommend` at scale: time and peak memory for N events.

The file is the H&M sample's transactions repeated with renamed customers (so every row is a new event), written
to a temporary folder. Each size is imported into a fresh SQLite database by the CLI in a child process, whose
peak resident memory is read from the kernel; a second import of the same file (nothing new to store) follows, then
one user's feed, which fits the recommender on all the events. Memory that stays flat as the events grow is the
point: the full H&M file has 31M rows.

    python benchmarks/import_scale.py --store STORE --events ../shared/data/hm-sample/transactions.csv --rows 250000 1000000
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd
from child_process import run_python


def synthetic(events: Path, rows: int, out: Path) -> Path:
    """``rows`` H&M-layout rows: the sample repeated, each copy with its own customers."""
    sample = pd.read_csv(events, dtype=str)
    copies = -(-rows // len(sample))
    with open(out, "w", newline="") as handle:
        sample.head(0).to_csv(handle, index=False)
        for copy in range(copies):
            part = sample.assign(customer_id=sample["customer_id"] + f"-{copy}")
            part.head(rows - copy * len(sample)).to_csv(handle, index=False, header=False)
    return out


def cli(*arguments: str, summary=lambda text: text.splitlines()[0]) -> dict:
    """Run a CLI command in a child process; its wall time, peak memory (for that child alone) and a summary of its output."""
    text, seconds, peak_mib = run_python("-m", "dressup.cli", *arguments, env={"COLUMNS": "200"})
    return {"seconds": round(seconds, 1), "peak_mib": round(peak_mib), "output": summary(text.strip())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True, help="the H&M sample's transactions.csv")
    parser.add_argument("--rows", type=int, nargs="+", default=[250_000, 1_000_000])
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "import_scale.json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for rows in args.rows:
            path = synthetic(args.events, rows, Path(folder) / f"transactions-{rows}.csv")
            database = Path(folder) / f"users-{rows}.sqlite"
            importing = ("events", "import", str(path), "--store", str(args.store), "--database", f"sqlite:///{database}")
            first, again = cli(*importing), cli(*importing)
            user = pd.read_csv(args.events, dtype=str, nrows=1)["customer_id"].iat[0] + "-0"
            feed = cli("recommend", "--store", str(args.store), "--database", f"sqlite:///{database}", "--user", user, "--json",
                       summary=lambda text: f"{len(json.loads(text)['items'])} items")
            results.append({"rows": rows, "file_mib": round(path.stat().st_size / 2**20), "first": first, "again": again,
                            "recommend": {**feed, "user": user}})
            print(json.dumps(results[-1]), flush=True)
            path.unlink()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
