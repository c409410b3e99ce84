"""Catalog edits over the REST API, as a shop makes them all day: their cost, and what they do to everyone else.

On a copy of ``--store`` (its events database filled with ``--events`` synthetic purchases), starts `dressup serve`
and measures, one client at a time:

- add (POST /items with a photo), update (PUT /items/{id}) and remove (DELETE) latency, p50 and p95;
- that each edit is served when its call returns (a GET right after it);
- the bytes the server writes per edit (``/proc/PID/io``, every server process);
- similar-by-id latency with no edits, and while a second client edits without pause;
- a feed right after an edit, against feeds with no edits between them;
- the server's resident memory after start and at the end.

    python benchmarks/live_edits.py --store /work/bench/store-100k --copy-to /work/bench/edits --events 1000000
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from api_load import ADMIN_KEY, copy_store, free_port, start_server

from dressup import Store
from dressup.users import EventStore


def process_tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            queue += [int(child) for child in children]
    return pids


def summed(pid: int, file: str, field: str) -> int:
    """A /proc/PID/FILE field, summed over the process and its children."""
    total = 0
    for each in process_tree(pid):
        for line in Path(f"/proc/{each}/{file}").read_text().splitlines():
            if line.startswith(field):
                total += int(line.split()[1])
    return total


def resident_mib(pid: int) -> float:
    return summed(pid, "status", "VmRSS:") / 1024


def written_bytes(pid: int) -> int:
    return summed(pid, "io", "write_bytes:")


def synthetic_events(store: Path, count: int, seed: int = 0, database_url: str | None = None) -> None:
    """``count`` purchases by count/20 customers over the store's items (Zipf-like), into its database (or the one
    at ``database_url``)."""
    ids = Store.open(store).ids
    rng = np.random.default_rng(seed)
    users = max(1, count // 20)
    events = EventStore.open(store, url=database_url)
    chunk = 200_000

    def chunks():
        for start in range(0, count, chunk):
            size = min(chunk, count - start)
            picks = np.minimum((rng.pareto(1.2, size) * 50).astype(int), len(ids) - 1)
            moments = pd.Timestamp("2026-06-01") + pd.to_timedelta(rng.integers(0, 150 * 86400, size), "s")
            yield pd.DataFrame({"user": [f"c{u}" for u in rng.integers(users, size=size)], "item": ids[picks],
                                "kind": "purchase", "value": np.nan, "timestamp": moments})

    events.add_chunks(chunks())
    events.close()


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000
    return {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1)}


def timed(method, *args, **kwargs) -> tuple[float, httpx.Response]:
    """Seconds a call takes, and its response: ``timed(client.get, "/health")``."""
    began = time.perf_counter()
    response = method(*args, **kwargs)
    return time.perf_counter() - began, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--copy-to", type=Path, required=True)
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--edits", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    copy_store(args.store, args.copy_to)
    if args.events:
        began = time.perf_counter()
        synthetic_events(args.copy_to, args.events)
        print(f"{args.events:,} events in {time.perf_counter() - began:.0f} s", flush=True)
    store = Store.open(args.copy_to)
    ids, photos = store.ids[store.state.alive].tolist(), store.items["image"].tolist()
    store.close()
    rng = random.Random(0)
    port = free_port()
    began = time.perf_counter()
    server = start_server(args.copy_to, port, args.workers, None)
    report = {"store": str(args.store), "items": len(ids), "events": args.events, "workers": args.workers,
              "start_seconds": round(time.perf_counter() - began, 1), "rss_after_start_mib": round(resident_mib(server.pid))}
    admin = {"X-API-Key": ADMIN_KEY}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            report["similar_quiet"] = percentiles([timed(client.get, f"/items/{rng.choice(ids)}/similar", params={"k": 10})[0]
                                                   for _ in range(300)])
            report.update(edit_figures(client, admin, photos, args.edits, server.pid, rng))
            report.update(similar_while_editing(port, admin, photos, ids, rng))
            report.update(feed_after_edits(client, admin, ids, rng))
        report["rss_at_end_mib"] = round(resident_mib(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(json.dumps(report, indent=2))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2))


def edit_figures(client, admin, photos, edits, pid, rng) -> dict:
    adds, updates, removes, invisible = [], [], [], 0
    written = written_bytes(pid)
    for number in range(edits):
        item_id = f"bench-{number}-{rng.random():.6f}"
        photo = Path(rng.choice(photos)).read_bytes()
        seconds, response = timed(client.post, "/items", data={"id": item_id, "title": "Bench", "price": "20"},
                                  files={"image": ("p.jpg", photo, "image/jpeg")}, headers=admin)
        assert response.status_code == 201, response.text
        adds.append(seconds)
        invisible += client.get(f"/items/{item_id}").status_code != 200
        seconds, response = timed(client.put, f"/items/{item_id}", data={"price": "25", "in_stock": "false"}, headers=admin)
        assert response.status_code == 200, response.text
        updates.append(seconds)
        invisible += client.get(f"/items/{item_id}").json()["price"] != 25
        seconds, response = timed(client.delete, f"/items/{item_id}", headers=admin)
        assert response.status_code == 204, response.text
        removes.append(seconds)
        invisible += client.get(f"/items/{item_id}").status_code != 404
    per_edit = (written_bytes(pid) - written) / (3 * edits)
    return {"add": percentiles(adds), "update": percentiles(updates), "remove": percentiles(removes),
            "edits_not_served_on_return": invisible, "written_per_edit_kib": round(per_edit / 1024, 1)}


def similar_while_editing(port, admin, photos, ids, rng) -> dict:
    stop = threading.Event()
    edits = [0]

    def editor():
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            while not stop.is_set():
                item_id = f"busy-{edits[0]}"
                photo = Path(photos[edits[0] % len(photos)]).read_bytes()
                client.post("/items", data={"id": item_id}, files={"image": ("p.jpg", photo, "image/jpeg")}, headers=admin)
                client.put(f"/items/{item_id}", data={"price": "12"}, headers=admin)
                edits[0] += 2

    thread = threading.Thread(target=editor)
    thread.start()
    seconds, statuses = [], []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            took, response = timed(client.get, f"/items/{rng.choice(ids)}/similar", params={"k": 10})
            seconds.append(took)
            statuses.append(response.status_code)
    stop.set()
    thread.join()
    return {"similar_while_editing": {**percentiles(seconds), "edits_meanwhile": edits[0],
                                      "server_errors": sum(s >= 500 for s in statuses)}}


def feed_after_edits(client, admin, ids, rng) -> dict:
    account = client.post("/users").json()
    user = {"Authorization": f"Bearer {account['token']}"}
    for item_id in rng.sample(ids, 5):
        client.post("/users/me/events", json={"item_id": item_id, "type": "like"}, headers=user)
    feed = ("/users/me/recommendations",)
    client.get(*feed, params={"k": 12}, headers=user)  # the first fit of the catalog-wide signals, once per server
    quiet = [timed(client.get, *feed, params={"k": 12}, headers=user)[0] for _ in range(30)]
    after = []
    for number in range(30):
        client.put(f"/items/{rng.choice(ids)}", data={"price": str(10 + number)}, headers=admin)
        after.append(timed(client.get, *feed, params={"k": 12}, headers=user)[0])
    return {"feed_quiet": percentiles(quiet), "feed_right_after_an_edit": percentiles(after),
            "feed_ratio_after_edit_to_quiet_p50": round(statistics.median(after) / statistics.median(quiet), 2)}


if __name__ == "__main__":
    main()
