"""Hostile input and faults against a real `dressup serve`, one table row per family: inputs tried, answers, 5xx,
tracebacks in the server's log, the server's peak memory, and what was lost.

Families: hostile images (on every upload route), damaged store files (each case in the CLI and from a server),
a full disk (catalog edits and indexing), concurrent edits (two servers, one store), an event import under load
(SQLite and PostgreSQL) and slow clients (requests sent a byte at a time).

    python benchmarks/hardening.py --work /tmp/hardening --output benchmarks/results/hardening.json

Needs root for the full-disk family (it mounts a small tmpfs; skipped otherwise) and Debian's PostgreSQL binaries for
the PostgreSQL import (skipped otherwise).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from api_load import ADMIN_KEY, free_port
from live_edits import resident_mib, summed
from live_edits_concurrency import check, reader, writer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from damaged_stores import DAMAGES  # noqa: E402
from hostile_images import hostile_images  # noqa: E402

FPI = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-product-images"
ADMIN = {"X-API-Key": ADMIN_KEY}
INTENDED = {503, 507}  # a damaged store, a full disk: the answers these faults must get


# -- servers ---------------------------------------------------------------------------------
class Server:
    """A `dressup serve` (or, for a store that cannot open, the app under uvicorn) with its log in a file."""

    def __init__(self, store: Path, log: Path, database: str | None = None, factory: bool = False, **settings: str):
        self.port, self.log = free_port(), log
        env = {**os.environ, "DRESSUP_ADMIN_KEY": ADMIN_KEY, "DRESSUP_STORE": str(store),
               **{f"DRESSUP_{k.upper()}": v for k, v in settings.items()}}
        if database:
            env["DRESSUP_DATABASE_URL"] = database
        command = (["-m", "uvicorn", "--factory", "dressup.api:app_from_environment", "--port", str(self.port)] if factory
                   else ["-m", "dressup.cli", "serve", "--store", str(store), "--port", str(self.port)])
        with open(log, "a") as output:
            self.process = subprocess.Popen([sys.executable, *command, "--log-level", "warning"], env=env,
                                            stdout=output, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.get(self.url + "/health", timeout=2)
                return
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the server did not start:\n{log.read_text()}") from None
                time.sleep(0.2)

    def peak_mib(self) -> float:
        return summed(self.process.pid, "status", "VmHWM:") / 1024

    def resident_mib(self) -> float:
        return resident_mib(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def tracebacks(log: Path) -> int:
    return log.read_text().count("Traceback") if log.exists() else 0


def row(family: str, inputs: int, statuses: list[int], log: Path | None, peak: float | None, lost: int, **more) -> dict:
    unexpected = sum(s >= 500 and s not in INTENDED for s in statuses)
    return {"family": family, "inputs": inputs, "requests": len(statuses), "5xx": unexpected,
            "intended 503/507": sum(s in INTENDED for s in statuses), "tracebacks": tracebacks(log) if log else 0,
            "peak server MiB": None if peak is None else round(peak), "lost": lost, **more}


# -- the store the families start from ----------------------------------------------------------
def build_store(work: Path, items: int) -> tuple[Path, list[str]]:
    styles = pd.read_csv(FPI / "styles.csv").iloc[:items].copy()
    styles["image"] = [str(FPI / "images" / f"{i}.jpg") for i in styles["id"]]
    styles["price"] = [10 + (i % 90) for i in styles["id"]]
    styles.to_csv(work / "catalog.csv", index=False)
    store = work / "store"
    if not (store / "manifest.json").exists():
        subprocess.run([sys.executable, "-m", "dressup.cli", "index", str(work / "catalog.csv"), "--store", str(store)],
                       check=True, capture_output=True)
    return store, styles["image"].tolist()


def fresh_copy(store: Path, destination: Path) -> Path:
    shutil.rmtree(destination, ignore_errors=True)
    shutil.copytree(store, destination, ignore=shutil.ignore_patterns("users.sqlite*"))
    return destination


# -- families -------------------------------------------------------------------------------
def hostile_image_family(store: Path, work: Path, photos: list[str]) -> dict:
    log = work / "hostile.log"
    log.unlink(missing_ok=True)
    server = Server(fresh_copy(store, work / "hostile-store"), log)
    images, statuses = hostile_images(), []
    try:
        with httpx.Client(base_url=server.url, timeout=300) as client:
            normal = Path(photos[0]).read_bytes()  # load the encoder and the tagger first
            client.post("/similar", files={"image": ("p.jpg", normal)})
            client.post("/tags", files={"image": ("p.jpg", normal)})
            baseline = server.resident_mib()
            for number, (name, data) in enumerate(images.items()):
                for route, extra in [("/similar", {}), ("/tags", {}),
                                     ("/items", {"data": {"id": f"hostile-{number}"}, "headers": ADMIN})]:
                    response = client.post(route, files={"image": ("upload", data)}, **extra)
                    statuses.append(response.status_code)
                    if response.status_code >= 500:
                        print(f"  {name} on {route}: {response.status_code} {response.text[:200]}", flush=True)
            peak = server.peak_mib()
    finally:
        server.stop()
    return row("hostile images", len(images), statuses, log, peak, 0, **{"rss before MiB": round(baseline),
               "answers": dict(sorted(pd.Series(statuses).value_counts().to_dict().items()))})


def damaged_store_family(store: Path, work: Path, photos: list[str]) -> dict:
    log = work / "damaged.log"
    log.unlink(missing_ok=True)
    statuses, cli_clean, peaks = [], 0, []
    photo = Path(photos[0]).read_bytes()
    for damage in DAMAGES.values():
        case = fresh_copy(store, work / "damaged-store")
        damage(case)
        done = subprocess.run([sys.executable, "-m", "dressup.cli", "similar", "--store", str(case), "--image", photos[0]],
                              capture_output=True, text=True)
        cli_clean += done.returncode == 1 and done.stderr.startswith("error:") and "Traceback" not in done.stderr
        with open(log, "a") as output:
            output.write(done.stderr)
        server = Server(case, log, factory=True)
        try:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                statuses += [client.get("/health").status_code,
                             client.post("/similar", files={"image": ("p.jpg", photo)}).status_code]
            peaks.append(server.peak_mib())
        finally:
            server.stop()
    return row("damaged store files", len(DAMAGES), statuses, log, max(peaks), 0,
               **{"CLI: one clear line": f"{cli_clean} of {len(DAMAGES)}"})


def disk_full_family(store: Path, work: Path, photos: list[str]) -> dict:
    mount = work / "small-disk"
    mount.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True).returncode:
        return {"family": "disk full", "skipped": "cannot mount a tmpfs (needs root)"}
    log = work / "disk-full.log"
    log.unlink(missing_ok=True)
    statuses, acknowledged, lost = [], {}, 0
    try:
        copy = fresh_copy(store, mount / "store")
        server = Server(copy, log)
        try:
            with httpx.Client(base_url=server.url, timeout=120) as client:
                client.post("/users")  # the database exists before the disk fills
                free = shutil.disk_usage(mount).free
                with open(mount / "filler", "wb") as filler:
                    filler.write(b"\0" * max(0, free - 64_000))
                for number in range(20):
                    response = client.post("/items", data={"id": f"full-{number}", "title": "On a full disk"},
                                           files={"image": ("p.jpg", Path(photos[number + 1]).read_bytes())}, headers=ADMIN)
                    statuses.append(response.status_code)
                    if response.status_code == 201:
                        acknowledged[f"full-{number}"] = "On a full disk"
                index = subprocess.run([sys.executable, "-m", "dressup.cli", "index", str(work / "catalog.csv"), "--store",
                                        str(copy), "--index-kind", "hnsw"], capture_output=True, text=True)
                debris = [p.name for p in copy.glob("gen-*.tmp")] + glob.glob(str(copy / "images" / ".*.tmp"))
                generations = len(list(copy.glob("gen-*")))
                (mount / "filler").unlink()
                retried = client.post("/items", data={"id": "after-space", "title": "Freed"},
                                      files={"image": ("p.jpg", Path(photos[30]).read_bytes())}, headers=ADMIN)
                statuses.append(retried.status_code)
                if retried.status_code == 201:
                    acknowledged["after-space"] = "Freed"
                lost = sum(client.get(f"/items/{item}").status_code != 200 for item in acknowledged)
                peak = server.peak_mib()
        finally:
            server.stop()
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
    return row("disk full", 21, statuses, log, peak, lost, **{
        "index on a full disk": "exit 1, one line" if index.returncode == 1 and "Traceback" not in index.stderr
        else f"exit {index.returncode}", "debris": len(debris), "generations after": generations,
        "answers": dict(sorted(pd.Series(statuses).value_counts().to_dict().items()))})


def concurrent_edit_family(store: Path, work: Path, photos: list[str], seconds: float) -> dict:
    log = work / "concurrent.log"
    log.unlink(missing_ok=True)
    copy = fresh_copy(store, work / "concurrent-store")
    servers = [Server(copy, log), Server(copy, log)]
    urls = [s.url for s in servers]
    ids = pd.read_csv(work / "catalog.csv")["id"].astype(str).tolist()
    expected, stop, writes, reads = {}, threading.Event(), [], []
    threads = [threading.Thread(target=writer, args=(n, urls, photos[:50], expected, stop, writes)) for n in range(2)]
    threads += [threading.Thread(target=reader, args=(n, urls, ids, expected, stop, reads)) for n in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    time.sleep(1.5)  # other workers take edits in within a second
    wrong = sum(check(url, expected) for url in urls)  # acknowledged prices and removals, on each server
    peak = max(s.peak_mib() for s in servers)
    for server in servers:
        server.stop()
    return row("concurrent edits", len(writes), writes + reads, log, peak, wrong,
               **{"reads": len(reads), "items checked on both servers": len(expected)})


def import_family(store: Path, work: Path, rows: int, database: str | None, label: str) -> dict:
    log = work / f"import-{label}.log"
    log.unlink(missing_ok=True)
    copy = fresh_copy(store, work / f"import-store-{label}")
    server = Server(copy, log, database=database)
    latencies, statuses, acknowledged, stop = [], [], {}, threading.Event()

    def client_loop(number: int):
        rng = random.Random(number)
        ids = pd.read_csv(work / "catalog.csv")["id"].astype(str).tolist()
        with httpx.Client(base_url=server.url, timeout=120) as client:
            account = client.post("/users").json()
            user = {"Authorization": f"Bearer {account['token']}"}
            acknowledged[account["user_id"]] = 0
            while not stop.is_set():
                began = time.perf_counter()
                response = client.post("/users/me/events", json={"item_id": rng.choice(ids), "type": "view"}, headers=user)
                latencies.append(time.perf_counter() - began)
                statuses.append(response.status_code)
                acknowledged[account["user_id"]] += response.status_code == 201

    threads = [threading.Thread(target=client_loop, args=(n,), daemon=True) for n in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    before = len(latencies)
    env = {**os.environ, **({"DRESSUP_DATABASE_URL": database} if database else {})}
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from live_edits import synthetic_events; "
            f"synthetic_events(__import__('pathlib').Path({str(copy)!r}), {rows}, database_url={database!r})")
    began = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=Path(__file__).parent)
    except BaseException:
        stop.set()
        server.stop()
        raise
    import_seconds = time.perf_counter() - began
    during = latencies[before:]
    stop.set()
    for thread in threads:
        thread.join()
    from dressup.users import EventStore

    events = EventStore.open(copy, url=database)
    lost = sum(max(0, count - len(events.events(user))) for user, count in acknowledged.items())
    total = events.count()
    events.close()
    peak = server.peak_mib()
    server.stop()
    ms = np.array(during) * 1000
    return row(f"import during load ({label})", rows, statuses, log, peak, lost, **{
        "import seconds": round(import_seconds, 1), "posts during import": len(during),
        "post p50 ms": round(float(np.percentile(ms, 50)), 1), "post p99 ms": round(float(np.percentile(ms, 99)), 1),
        "post max ms": round(float(ms.max()), 1), "events stored": total})


def slow_client_family(store: Path, work: Path, connections: int, timeout: float) -> dict:
    log = work / "slow.log"
    log.unlink(missing_ok=True)
    server = Server(fresh_copy(store, work / "slow-store"), log, request_timeout=str(timeout))
    sockets = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and then a byte now and then, never the blank line
        sockets.append(sock)
    latencies, statuses, began = [], [], time.monotonic()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        while time.monotonic() - began < timeout + 5:
            for sock in sockets:
                try:
                    sock.sendall(b"X")
                except OSError:
                    pass
            start = time.perf_counter()
            statuses.append(client.get("/health").status_code)
            latencies.append(time.perf_counter() - start)
            time.sleep(0.5)
    closed = 0
    for sock in sockets:
        sock.settimeout(0.5)
        try:
            sock.sendall(b"X")
            closed += sock.recv(1) == b""
        except OSError:
            closed += 1
        sock.close()
    peak = server.peak_mib()
    server.stop()
    return row("slow clients", connections, statuses, log, peak, 0, **{
        "closed by the server": f"{closed} of {connections} after {timeout:.0f} s",
        "others' /health p99 ms": round(float(np.percentile(np.array(latencies) * 1000, 99)), 1)})


def postgres(work: Path) -> tuple[str, subprocess.Popen] | None:
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        return None
    data, port = work / "pg", free_port()
    shutil.rmtree(data, ignore_errors=True)
    user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if user:
        data.mkdir(parents=True)
        shutil.chown(data, "postgres")
    subprocess.run([*user, f"{binaries[-1]}/initdb", "-D", str(data), "-A", "trust", "-U", "dressup"], check=True,
                   capture_output=True)
    process = subprocess.Popen([*user, f"{binaries[-1]}/postgres", "-D", str(data), "-p", str(port), "-k", str(data),
                                "-c", "fsync=on"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"postgresql://dressup@127.0.0.1:{port}/postgres"
    import sqlalchemy as sa

    for _ in range(100):
        try:
            sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://")).connect().close()
            return url, process
        except sa.exc.OperationalError:
            time.sleep(0.2)
    raise SystemExit("PostgreSQL did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/dressup-hardening"))
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--import-rows", type=int, default=1_000_000)
    parser.add_argument("--edit-seconds", type=float, default=30)
    parser.add_argument("--slow-connections", type=int, default=800)
    parser.add_argument("--slow-timeout", type=float, default=10)
    parser.add_argument("--only", nargs="*", help="families to run (default: all)")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    store, photos = build_store(args.work, args.items)
    families = {
        "images": lambda: [hostile_image_family(store, args.work, photos)],
        "damaged": lambda: [damaged_store_family(store, args.work, photos)],
        "disk": lambda: [disk_full_family(store, args.work, photos)],
        "edits": lambda: [concurrent_edit_family(store, args.work, photos, args.edit_seconds)],
        "import": lambda: import_rows(store, args),
        "slow": lambda: [slow_client_family(store, args.work, args.slow_connections, args.slow_timeout)],
    }
    rows = []
    for name, run in families.items():
        if args.only and name not in args.only:
            continue
        began = time.perf_counter()
        for result in run():
            result["seconds"] = round(time.perf_counter() - began)
            print(json.dumps(result), flush=True)
            rows.append(result)
    print_table(rows)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(rows, indent=2))


def import_rows(store: Path, args) -> list[dict]:
    results = [import_family(store, args.work, args.import_rows, None, "SQLite")]
    started = postgres(args.work)
    if started is None:
        return results + [{"family": "import during load (PostgreSQL)", "skipped": "no PostgreSQL binaries"}]
    url, process = started
    try:
        results.append(import_family(store, args.work, args.import_rows, url, "PostgreSQL"))
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


def print_table(rows: list[dict]) -> None:
    columns = ["family", "inputs", "requests", "5xx", "intended 503/507", "tracebacks", "peak server MiB", "lost"]
    print("\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for result in rows:
        print("| " + " | ".join(str(result.get(c, result.get("skipped", ""))) for c in columns) + " |")
    for result in rows:
        extra = {k: v for k, v in result.items() if k not in columns}
        print(f"- {result['family']}: {json.dumps(extra)}")


if __name__ == "__main__":
    main()
