"""Shared fixtures: the real datasets in ../shared/data and small catalogs cut from them."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DRESSUP_DATA", REPO.parent / "shared" / "data"))
FPI = DATA / "fashion-product-images"
HM = DATA / "hm-sample"
MANGO = DATA / "mango-outfits"


def pytest_configure(config):
    if not FPI.is_dir():
        raise pytest.UsageError(f"the real datasets are expected in {DATA} (set DRESSUP_DATA to move them)")


# -- progress ------------------------------------------------------------------------------------

def step_recorder(hook=None):
    """A `Progress` that records each (step, done, total) it hears, and hands it to ``hook`` if given."""
    from dressup.progress import Progress

    class Recorder(Progress):
        def __init__(self):
            self.seen, self.ended, self.notes = [], [], []

        def update(self, step, done, total=None, **figures):
            self.seen.append((step, done, total))
            if hook is not None:
                hook(step, done, total)

        def end(self, step):
            self.ended.append(step)

        def note(self, message):
            self.notes.append(message)

    return Recorder()


# -- the command line ----------------------------------------------------------------------------

@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def dressup(*args, check: bool = True) -> CliResult:
    """Run ``dressup ARGS`` (in this process, as the console script would) and return its exit status and output.

    An exception the command did not turn into a message fails the test, as its traceback would in a terminal."""
    from typer.testing import CliRunner

    from dressup.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    outcome = CliResult(result.exit_code, result.stdout, result.stderr)
    if check and outcome.returncode != 0:
        raise AssertionError(f"dressup {' '.join(map(str, args))} failed:\n{outcome.stdout}\n{outcome.stderr}")
    return outcome


def fails_cleanly(result: CliResult, message: str, status: int = 1) -> None:
    """A command that failed with one clear message (usage errors come in a box) and no traceback."""
    assert result.returncode == status, result.stderr
    assert message in " ".join(result.stderr.replace("│", " ").split()), result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="session")
def encoder():
    from dressup import create_encoder

    return create_encoder("mobilenetv2-imagenet")


@pytest.fixture(scope="session")
def styles() -> pd.DataFrame:
    return pd.read_csv(FPI / "styles.csv")


def fpi_table(styles: pd.DataFrame, rows: int, start: int = 0) -> pd.DataFrame:
    """A generic catalog table of real Fashion Product Images rows, with made-up prices and sizes."""
    table = styles.iloc[start : start + rows].copy()
    table["image"] = [str(FPI / "images" / f"{i}.jpg") for i in table["id"]]
    table["price"] = [10 + (i % 90) for i in table["id"]]
    table["sizes"] = ["S|M|L" if i % 2 else "M|XL" for i in table["id"]]
    return table


def layout_folder(tmp_path, dataset, table, rows, extra=()):
    """A catalog folder in a real layout: the first rows of its table, the real images folder."""
    folder = tmp_path / dataset.name
    folder.mkdir()
    dtype = {"article_id": str}
    pd.read_csv(dataset / table, dtype=dtype).head(rows).to_csv(folder / table, index=False)
    for name in extra:
        pd.read_csv(dataset / name, dtype=dtype).to_csv(folder / name, index=False)
    (folder / "images").symlink_to(dataset / "images")
    return folder


@pytest.fixture
def small_catalog(tmp_path, styles) -> Path:
    """120 real products as a generic CSV."""
    path = tmp_path / "catalog.csv"
    fpi_table(styles, 120).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def small_store_once(tmp_path_factory, styles, encoder) -> Path:
    """120 real products indexed once for the whole run, from a catalog beside the store; tests get copies."""
    from dressup import index_catalog

    folder = tmp_path_factory.mktemp("small")
    fpi_table(styles, 120).to_csv(folder / "catalog.csv", index=False)
    index_catalog(folder / "catalog.csv", folder / "store", encoder=encoder)
    return folder / "store"


@pytest.fixture
def small_store(tmp_path, small_catalog, small_store_once):
    """A store of the 120 products of `small_catalog`, the test's own copy to write into."""
    from dressup import Store

    shutil.copytree(small_store_once, tmp_path / "store")
    return Store.open(tmp_path / "store")


@pytest.fixture(scope="session")
def mango_store(tmp_path_factory, encoder) -> Path:
    """About 1,000 Mango products: every product of 250 outfits, indexed, with an outfit model (no prices).
    A folder holding products.csv, outfits.csv and store/; tests that write copy the store first."""
    pytest.importorskip("torch")
    from dressup import Store, index_catalog
    from dressup.training import OutfitTrainConfig, train_outfit_model

    folder = tmp_path_factory.mktemp("mango")
    outfits = pd.read_csv(MANGO / "outfits.csv", dtype=str)
    chosen = outfits["cod_outfit"].drop_duplicates().iloc[:250]
    subset = outfits[outfits["cod_outfit"].isin(chosen)]
    products = pd.read_csv(MANGO / "products.csv", dtype=str)
    products = products[products["cod_modelo_color"].isin(subset["cod_modelo_color"])].copy()
    products["des_filename"] = [str(MANGO / f) for f in products["des_filename"]]
    products.to_csv(folder / "products.csv", index=False)
    subset.to_csv(folder / "outfits.csv", index=False)
    index_catalog(folder / "products.csv", folder / "store", encoder=encoder)
    train_outfit_model(Store.open(folder / "store"), folder / "outfits.csv", OutfitTrainConfig(epochs=8, batch_size=64))
    return folder


# -- users and events ----------------------------------------------------------------------------

def hm_subset(folder: Path, customers: int = 80) -> Path:
    """The purchases of the first ``customers`` H&M customers and the articles they bought, as an H&M folder
    (articles.csv + transactions.csv) whose images stay in ../shared/data/hm-sample/images."""
    sales = pd.read_csv(HM / "transactions.csv", dtype={"article_id": str})
    chosen = sorted(sales["customer_id"].unique())[:customers]
    sales = sales[sales["customer_id"].isin(chosen)]
    articles = pd.read_csv(HM / "articles.csv", dtype={"article_id": str})
    articles = articles[articles["article_id"].isin(set(sales["article_id"]))]
    folder.mkdir(parents=True, exist_ok=True)
    articles.to_csv(folder / "articles.csv", index=False)
    sales.to_csv(folder / "transactions.csv", index=False)
    return folder


@pytest.fixture(scope="session")
def hm_store_path(tmp_path_factory, encoder) -> Path:
    """A store of the ~600 articles bought by 80 real H&M customers (no events imported)."""
    from dressup import CatalogSource, index_catalog

    folder = hm_subset(tmp_path_factory.mktemp("hm") / "catalog")
    store = folder.parent / "store"
    index_catalog(CatalogSource(folder, image_root=HM), store, encoder=encoder)
    return store


@pytest.fixture(scope="session")
def hm_events(hm_store_path, tmp_path_factory) -> Path:
    """A copy of the H&M subset's store with its real purchases imported into SQLite (tests that write copy it)."""
    from dressup.users import import_events

    store = tmp_path_factory.mktemp("hm-events") / "store"
    shutil.copytree(hm_store_path, store)
    import_events(store, hm_store_path.parent / "catalog" / "transactions.csv")
    return store


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL server (Debian's binaries, started here) or $DRESSUP_TEST_POSTGRES_URL."""
    import glob
    import shutil
    import socket
    import subprocess
    import tempfile

    if os.environ.get("DRESSUP_TEST_POSTGRES_URL"):
        yield os.environ["DRESSUP_TEST_POSTGRES_URL"]
        return
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        if os.environ.get("DRESSUP_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is required here but not installed (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed")
    bin_dir = Path(binaries[-1]).parent
    folder = tempfile.mkdtemp(prefix="dressup-pg-")
    as_postgres = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(folder, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = f"{folder}/data"
    run = lambda *command: subprocess.run([*as_postgres, *command], check=True, capture_output=True)
    run(str(bin_dir / "initdb"), "-D", data, "-A", "trust", "-U", "dressup")
    run(str(bin_dir / "pg_ctl"), "-D", data, "-w", "-l", f"{folder}/server.log", "start", "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off")
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dressup", "dressup")
        yield f"postgresql://dressup@127.0.0.1:{port}/dressup"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", data, "-m", "fast", "stop")
        shutil.rmtree(folder, ignore_errors=True)


# -- the REST API --------------------------------------------------------------------------------

ADMIN_KEY = "test-admin-key"


@contextmanager
def running_server(store: Path, **environment: str):
    """`dressup serve` on a free loopback port, really started; yields its base URL and stops it after."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generous = {"DRESSUP_UPLOAD_RATE": "100000/minute", "DRESSUP_OUTFIT_RATE": "100000/minute"}  # tests call often
    env = {**os.environ, "DRESSUP_ADMIN_KEY": ADMIN_KEY, **generous, **environment}
    log_path = store.parent / f"server-{port}.log"
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "dressup.cli", "serve", "--store", str(store), "--port", str(port),
                                   "--log-level", "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(url + "/health", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the server did not start: {log_path.read_text()}") from None
                    time.sleep(0.2)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture(scope="session")
def api_store(mango_store, tmp_path_factory) -> Path:
    """A copy of the Mango test store for servers to write into (events, catalog edits)."""
    import shutil

    target = tmp_path_factory.mktemp("api") / "store"
    shutil.copytree(mango_store / "store", target)
    return target


@pytest.fixture(scope="session")
def api_url(api_store):
    with running_server(api_store) as url:
        yield url


@contextmanager
def server_in_thread(store: Path, **settings):
    """A real uvicorn server of the app for ``store``, in a thread of this process (cheap to start 30 times)."""
    import socket
    import threading
    import time

    import httpx
    import uvicorn

    from dressup.api import Settings, create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(store=store, **settings)), port=port, log_level="critical"))
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join()


# -- shop the look -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def look_store(tmp_path_factory) -> Path:
    """400 Mango products indexed with the fashion encoder, whose type head finds garments (`dressup.looks`)."""
    from dressup import index_catalog

    folder = tmp_path_factory.mktemp("look")
    products = pd.read_csv(MANGO / "products.csv", dtype=str).head(400)
    products["des_filename"] = [str(MANGO / f) for f in products["des_filename"]]
    products.to_csv(folder / "products.csv", index=False)
    index_catalog(folder / "products.csv", folder / "store", encoder="fashion-mobilenetv2")
    return folder / "store"


def compose_look(ids: list[int], path: Path, tile: tuple[int, int] = (240, 320)) -> list[tuple[int, int, int, int]]:
    """Fashion Product Images products pasted side by side on white, saved at ``path``; each one's box."""
    photo = Image.new("RGB", (tile[0] * len(ids), tile[1]), "white")
    boxes = []
    for number, item in enumerate(ids):
        image = Image.open(FPI / "images" / f"{item}.jpg").convert("RGB")
        image.thumbnail((tile[0] - 16, tile[1] - 16))
        x, y = number * tile[0] + (tile[0] - image.width) // 2, (tile[1] - image.height) // 2
        photo.paste(image, (x, y))
        ys, xs = np.nonzero((np.asarray(image) < 240).any(axis=2))
        boxes.append((x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1))
    photo.save(path)
    return boxes
