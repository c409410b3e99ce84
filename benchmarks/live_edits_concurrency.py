"""Edits and reads at once on two server processes sharing one store: no 5xx, and no wrong or missing item.

Starts two `dressup serve` processes on a copy of ``--store`` (two workers of one shop, each on its own port so
that each can be checked alone). For ``--seconds``, ``--writers`` admin clients add, change and remove items of
their own on either server in turn, recording every acknowledged change, while ``--readers`` clients ask both for
similar items and for the writers' items. Afterwards, every acknowledged change is checked on every server.

    python benchmarks/live_edits_concurrency.py --store /work/bench/store-100k --copy-to /work/bench/concurrent
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from pathlib import Path

import httpx
from api_load import ADMIN_KEY, copy_store, free_port, start_server

from dressup import Store


def writer(number: int, urls: list[str], photos: list[str], expected: dict, stop: threading.Event, statuses: list) -> None:
    """Adds, changes and removes items ``w{number}-*``; ``expected[id]`` is each one's acknowledged state."""
    rng = random.Random(number)
    clients = [httpx.Client(base_url=url, timeout=120) for url in urls]
    admin = {"X-API-Key": ADMIN_KEY}
    made = 0
    while not stop.is_set():
        client = clients[made % len(clients)]
        present = [i for i, state in list(expected.items()) if i.startswith(f"w{number}-") and state is not None]
        choice = rng.random()
        if choice < 0.5 or not present:
            item_id = f"w{number}-{made}"
            photo = Path(rng.choice(photos)).read_bytes()
            response = client.post("/items", data={"id": item_id, "price": "10"}, headers=admin,
                                   files={"image": ("p.jpg", photo, "image/jpeg")})
            if response.status_code == 201:
                expected[item_id] = 10.0
        elif choice < 0.8:
            item_id, price = rng.choice(present), float(rng.randint(1, 500))
            response = client.put(f"/items/{item_id}", data={"price": str(price)}, headers=admin)
            if response.status_code == 200:
                expected[item_id] = price
        else:
            item_id = rng.choice(present)
            response = client.delete(f"/items/{item_id}", headers=admin)
            if response.status_code == 204:
                expected[item_id] = None
        statuses.append(response.status_code)
        made += 1


def reader(number: int, urls: list[str], ids: list[str], expected: dict, stop: threading.Event, statuses: list) -> None:
    rng = random.Random(1000 + number)
    clients = [httpx.Client(base_url=url, timeout=120) for url in urls]
    while not stop.is_set():
        client = rng.choice(clients)
        if rng.random() < 0.7:
            response = client.get(f"/items/{rng.choice(ids)}/similar", params={"k": 10})
        else:
            written = list(expected) or ids
            response = client.get(f"/items/{rng.choice(written)}")
        statuses.append(response.status_code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--copy-to", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    copy_store(args.store, args.copy_to)
    store = Store.open(args.copy_to)
    ids, photos = store.ids[store.state.alive].tolist(), store.items["image"].tolist()[:2000]
    store.close()
    ports = [free_port(), free_port()]
    servers = [start_server(args.copy_to, port, 1, None) for port in ports]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    expected: dict = {}
    stop = threading.Event()
    writes, reads = [], []
    threads = [threading.Thread(target=writer, args=(n, urls, photos, expected, stop, writes)) for n in range(args.writers)]
    threads += [threading.Thread(target=reader, args=(n, urls, ids, expected, stop, reads)) for n in range(args.readers)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join()
        time.sleep(1.0)  # every server takes in the last edits within a second
        wrong = {url: check(url, expected) for url in urls}
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=60)
    report = {"seconds": args.seconds, "servers": len(urls), "writers": args.writers, "readers": args.readers,
              "acknowledged_edits": sum(s in (200, 201, 204) for s in writes), "reads": len(reads),
              "server_errors": sum(s >= 500 for s in writes + reads), "statuses": status_counts(writes + reads),
              "items_checked_per_server": len(expected), "wrong_or_missing_per_server": wrong}
    print(json.dumps(report, indent=2))
    if args.output:
        args.output.write_text(json.dumps(report, indent=2))


def check(url: str, expected: dict) -> int:
    """How many of the writers' items this server serves otherwise than acknowledged."""
    wrong = 0
    with httpx.Client(base_url=url, timeout=120) as client:
        for item_id, price in expected.items():
            response = client.get(f"/items/{item_id}")
            if price is None:
                wrong += response.status_code != 404
            else:
                wrong += response.status_code != 200 or response.json()["price"] != price
    return wrong


def status_counts(statuses: list[int]) -> dict:
    counts: dict = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return counts


if __name__ == "__main__":
    main()
