"""`dressup outfits train` with 1 and 2 threads and with the default (the cores free at the start), on an idle machine
and beside busy processes: wall time and CPU time of the training process, from the kernel.

Each busy process is a Python loop; the load average is let settle before each run, so that the default sees the
machine as it is. Short runs (``--epochs 3``) are enough to see the pools fight.

    python benchmarks/job_threads.py --store STORE_MANGO --outfits ../shared/data/mango-outfits/outfits.csv
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def busy(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def settle(load: int, seconds: float) -> None:
    """Wait until the 1-minute load average is near ``load`` (at most ``seconds``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and abs(os.getloadavg()[0] - load) > 0.6:
        time.sleep(2)


def train(store: Path, outfits: Path, epochs: int, threads: int | None) -> dict:
    command = [sys.executable, "-m", "dressup.cli", "outfits", "train", "--store", str(store), "--outfits", str(outfits),
               "--epochs", str(epochs), *(["--threads", str(threads)] if threads else [])]
    began = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - began
    if status != 0:
        raise SystemExit(f"training failed: {child.stdout.read()}")
    said = child.stdout.read()
    return {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "threads_used": int(said.split(" thread(s)")[0].rsplit(" ", 1)[-1]) if " thread(s)" in said else threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--outfits", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=4, help="busy processes beside the loaded runs")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "store"
        shutil.copytree(args.store, store, ignore=shutil.ignore_patterns("users.sqlite*", "work"))
        for load in (0, args.busy):
            others = busy(load)
            try:
                for threads in (1, 2, None):
                    settle(load, 90)
                    run = {"busy_processes": load, "threads": threads or "default", "load_average": round(os.getloadavg()[0], 2),
                           **train(store, args.outfits, args.epochs, threads)}
                    print(json.dumps(run), flush=True)
                    results.append(run)
            finally:
                for process in others:
                    process.kill()
                    process.wait()
    report = {"cores": os.cpu_count(), "epochs": args.epochs, "runs": results}
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
