"""Load test of `dressup serve` over loopback: requests/s and p50/p99 latency per endpoint, bounded in time.

Starts the server (``--workers`` processes) on a store, then drives it over keep-alive connections with
``wrk`` (``apt-get install wrk``: a C load generator, light enough to leave the cores to the server) or,
with ``--client python`` or without wrk, an asyncio HTTP/1.1 client in this process, which costs about
0.6 ms of CPU per request itself. The client shares the machine's 2 cores with the server either way.
Scenarios, each for ``--seconds``:

- ``health``: GET /health, the framework's floor (the baseline of the same run);
- ``similar-by-id``: GET /items/{random id}/similar?k=10;
- ``recommendations``: GET /users/me/recommendations?k=12 for 50 registered users who liked 5 items each (after the
  first, a user's feed comes from what the server kept of it: the same request again);
- ``recommendations (customers)``: the same for ``--customers`` users drawn at random from those with events in the
  database (H&M's imported customers, say), each asked for in random order: most requests are a user's first;
- ``recommendations + events``: the 50 users' feeds mixed 1:1 with their view events (POST /users/me/events), so
  that a feed mostly follows a new event of its user and is ranked afresh; requests/s counts both kinds;
- ``upload``: POST /similar with a real catalog photo (multipart), one request at a time (latency) and
  with ``--concurrency`` connections (throughput);
- ``upload look``: POST /similar?look=true (shop the look: each garment found, searched), one at a time;
- ``text search``: GET /search?q=<colour> <type>&k=10 (hybrid), for the store's own colour and type pairs;
- ``outfits``: POST /outfits {"items": [a random product], "n": 3}, on a store with an outfit model.

Each scenario runs ``--repeats`` times; the report gives the median of each figure (the machine's speed varies
from minute to minute) and every run.

    python benchmarks/api_load.py --store stores/fashion-product-images --workers 2 --output benchmarks/results/api_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from functools import partial
from pathlib import Path
from urllib.parse import quote

import numpy as np

from dressup import Store
from dressup.outfits.model import MODEL_DIR

ADMIN_KEY = "benchmark"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_store(store: Path, destination: Path) -> None:
    """A fresh copy of a store to edit, without its events database or work files."""
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(store, destination, ignore=shutil.ignore_patterns("users.sqlite*", "work"))


def start_server(store: Path, port: int, workers: int, database: str | None) -> subprocess.Popen:
    # a benchmark is one client sending far more than a shopper's uploads and outfits: lift their rate limits
    env = {**os.environ, "DRESSUP_ADMIN_KEY": ADMIN_KEY, "DRESSUP_UPLOAD_RATE": "1000000/minute",
           "DRESSUP_OUTFIT_RATE": "1000000/minute"}
    if database:
        env["DRESSUP_DATABASE_URL"] = database
    server = subprocess.Popen([sys.executable, "-m", "dressup.cli", "serve", "--store", str(store), "--port", str(port),
                               "--workers", str(workers), "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start") from None
            time.sleep(0.3)


def customer_tokens(store: Path, database: str | None, count: int, rng: random.Random) -> list[str]:
    """Access tokens for ``count`` users drawn from those with events in the database (issued before the server starts)."""
    from dressup.users import EventStore

    events = EventStore.open(store, url=database)
    try:
        users = sorted(events.with_events(events.users()))
        return [events.new_token(user) for user in rng.sample(users, min(count, len(users)))]
    finally:
        events.close()


def call(port: int, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


# -- the load generator -------------------------------------------------------------------------------

def http_request(method: str, path: str, headers: dict | None = None, body: bytes = b"") -> bytes:
    """The bytes of one HTTP/1.1 request."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


async def connection(port: int, next_request, stop_at: float, latencies: list, statuses: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            request = next_request()
            started = time.perf_counter()
            writer.write(request)
            status = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            statuses.append(status)
    finally:
        writer.close()


async def drive(port: int, next_request, connections: int, seconds: float, warmup: float) -> dict:
    await asyncio.gather(*(connection(port, next_request, time.perf_counter() + warmup, [], []) for _ in range(connections)))
    latencies, statuses = [], []
    started = time.perf_counter()
    await asyncio.gather(*(connection(port, next_request, started + seconds, latencies, statuses) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    milliseconds = np.array(latencies) * 1000
    return {
        "connections": connections,
        "requests": len(latencies),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(milliseconds, 50)), 2),
        "p99_ms": round(float(np.percentile(milliseconds, 99)), 2),
        "errors": sum(1 for s in statuses if s >= 400),
    }


WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n{"requests": %d, "seconds": %f, "p50_us": %d, "p99_us": %d, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def lua_string(data: bytes | str) -> str:
    data = data.encode() if isinstance(data, str) else data
    return '"' + "".join(f"\\{b:03d}" for b in data) + '"'


def drive_wrk(port: int, requests: list[tuple[str, str, dict, bytes]], connections: int, seconds: float, warmup: float) -> dict:
    """Run wrk with a Lua script that sends one of ``requests`` (method, path, headers, body) at random."""
    def entry(method: str, path: str, headers: dict, body: bytes) -> str:
        fields = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
        return f"{{{lua_string(method)}, {lua_string(path)}, {{{fields}}}, {lua_string(body)}}}"

    entries = ",\n".join(entry(*request) for request in requests)
    script = f"local requests = {{{entries}}}\nmath.randomseed(0)\n" \
             "request = function()\n  local r = requests[math.random(#requests)]\n" \
             f"  return wrk.format(r[1], r[2], r[3], r[4] ~= '' and r[4] or nil)\nend\n{WRK_REPORT}"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        command = ["wrk", "-t1", f"-c{connections}", "-s", handle.name, f"http://127.0.0.1:{port}"]
        subprocess.run([*command[:3], f"-d{max(1, int(warmup))}s", *command[3:]], check=True, capture_output=True)
        output = subprocess.run([*command[:3], f"-d{int(seconds)}s", *command[3:]], check=True, capture_output=True,
                                text=True).stdout
    finally:
        os.unlink(handle.name)
    report = json.loads(output.strip().splitlines()[-1])
    return {"connections": connections, "requests": report["requests"],
            "requests_per_second": round(report["requests"] / report["seconds"], 1),
            "p50_ms": round(report["p50_us"] / 1000, 2), "p99_ms": round(report["p99_us"] / 1000, 2), "errors": report["errors"]}


def drive_python(port: int, requests: list, connections: int, seconds: float, warmup: float, rng: random.Random) -> dict:
    return asyncio.run(drive(port, lambda: http_request(*rng.choice(requests)), connections, seconds, warmup))


def multipart(photo: bytes, fields: dict) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode() for name,
             value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"\r\n'
                 f"Content-Type: image/jpeg\r\n\r\n".encode() + photo + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), boundary


def text_queries(store: Store, count: int = 500) -> list[str]:
    """"<colour> <type>" for the store's most common pairs, as a shopper types them."""
    pairs = store.items[["colour", "category"]].dropna().value_counts().index[:count]
    return [f"{colour} {kind}".lower() for colour, kind in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="runs per scenario; the report gives their medians")
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--database", help="database URL (default: STORE/users.sqlite; benchmark users are left in it)")
    parser.add_argument("--only", nargs="+", help="scenarios to run, by name (default: all)")
    parser.add_argument("--customers", type=int, default=2000, help="users with events drawn from the database")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    store = Store.open(args.store)
    ids = store.items["id"].tolist()
    images = [p for p in store.items["image"].tolist()[:200] if Path(p).is_file()][:20]
    photos = [Path(p).read_bytes() for p in images]
    rng = random.Random(0)
    wanted = not args.only or "recommendations (customers)" in args.only  # tokens replace the customers' own: only if asked
    customers = customer_tokens(args.store, args.database, args.customers, rng) if wanted else []
    port = free_port()
    server = start_server(args.store, port, args.workers, args.database)
    try:
        tokens = []
        for _ in range(50):
            token = call(port, "POST", "/users", {})["token"]
            for item in rng.sample(ids, 5):
                call(port, "POST", "/users/me/events", {"item_id": item, "type": "like"}, token)
            tokens.append(token)
        uploads = [multipart(photo, {"k": "10"}) for photo in photos]
        scenarios = {  # name: (requests to draw from, connections)
            "health": ([("GET", "/health", {}, b"")], args.concurrency),
            "similar-by-id": ([("GET", f"/items/{item}/similar?k=10", {}, b"") for item in rng.sample(ids, min(2000, len(ids)))],
                              args.concurrency),
            "recommendations": ([("GET", "/users/me/recommendations?k=12", {"Authorization": f"Bearer {t}"},
                                  b"") for t in tokens],
                                args.concurrency),
            "recommendations (customers)": ([("GET", "/users/me/recommendations?k=12", {"Authorization": f"Bearer {t}"},
                                              b"") for t in customers], args.concurrency),
            "recommendations + events": ([request for t in tokens for item in rng.sample(ids, 20) for request in (
                ("GET", "/users/me/recommendations?k=12", {"Authorization": f"Bearer {t}"}, b""),
                ("POST", "/users/me/events", {"Authorization": f"Bearer {t}", "Content-Type": "application/json"},
                 json.dumps({"item_id": item, "type": "view"}).encode()))], args.concurrency),
            "upload (one at a time)": ([("POST", "/similar", {"Content-Type": f"multipart/form-data; boundary={b}"}, body)
                                        for body, b in uploads], 1),
        }
        scenarios["upload"] = (scenarios["upload (one at a time)"][0], args.concurrency)
        scenarios["upload look (one at a time)"] = (
            [("POST", "/similar?look=true", {"Content-Type": f"multipart/form-data; boundary={b}"}, body)
             for body, b in uploads], 1)
        if (Path(args.store) / MODEL_DIR / "model.json").is_file():
            carts = rng.sample(ids, min(500, len(ids)))
            scenarios["outfits"] = ([("POST", "/outfits", {"Content-Type": "application/json"},
                                      json.dumps({"items": [item], "n": 3}).encode()) for item in carts], args.concurrency)
        scenarios["text search"] = ([("GET", f"/search?q={quote(text)}&k=10", {}, b"") for text in text_queries(store)],
                                    args.concurrency)
        scenarios = {name: scenario for name, scenario in scenarios.items() if not args.only or name in args.only}
        results = {}
        for name, (requests, connections) in scenarios.items():
            run = partial(drive_wrk, port, requests, connections, args.seconds, args.warmup)
            if args.client == "python":
                run = partial(drive_python, port, requests, connections, args.seconds, args.warmup, rng)
            runs = [run() for _ in range(args.repeats)]
            results[name] = {**{key: float(np.median([r[key] for r in runs])) for key in runs[0]}, "runs": runs}
            print(f"{name:24s} {json.dumps({k: v for k, v in results[name].items() if k != 'runs'})}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    report = {"store": str(args.store), "items": len(store), "workers": args.workers, "customers": len(customers),
              "cpu_cores": os.cpu_count(),
              "seconds_per_run": args.seconds, "runs_per_scenario": args.repeats,
              "client": f"{args.client}, keep-alive connections, on the same machine",
              "results": results}
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
