"""A full disk: catalog edits answer 507 (the CLI exits 1) with nothing written, indexing leaves no half-written
generation, and once space is freed the same edits succeed. Runs on a small tmpfs (skipped where mounting one is
not allowed)."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import ADMIN_KEY, dressup, fpi_table, server_in_thread


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def store_on_small_disk(small_disk, tmp_path, styles, encoder):
    from dressup import index_catalog

    table = fpi_table(styles, 40)
    table.to_csv(tmp_path / "catalog.csv", index=False)
    index_catalog(tmp_path / "catalog.csv", small_disk / "store", encoder=encoder)
    return small_disk / "store", table


def fill(disk: Path, leave: int) -> Path:
    filler = disk / f"filler-{uuid.uuid4().hex[:6]}"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


def listing(store: Path) -> list[str]:
    """The store's files (the database aside: SQLite keeps its own journal)."""
    return sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file() and "users.sqlite" not in p.name)


def test_an_add_on_a_full_disk_is_one_message_and_leaves_nothing(store_on_small_disk):
    store, table = store_on_small_disk
    filler = fill(store.parent, leave=4_000)
    before = listing(store)
    result = dressup("items", "add", "--store", store, "--id", "new-1", "--image", table["image"].iat[3], check=False)
    assert result.returncode == 1 and "no space left on the disk" in result.stderr and "Traceback" not in result.stderr
    assert listing(store) == before
    filler.unlink()
    dressup("items", "add", "--store", store, "--id", "new-1", "--image", table["image"].iat[3])


def test_indexing_on_a_full_disk_leaves_the_store_as_it_was(store_on_small_disk, tmp_path):
    from dressup import Store

    store, table = store_on_small_disk
    manifest = (store / "manifest.json").read_text()
    filler = fill(store.parent, leave=40_000)
    result = dressup("index", tmp_path / "catalog.csv", "--store", store, "--index-kind", "hnsw", check=False)
    assert result.returncode == 1 and "no space left on the disk" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert (store / "manifest.json").read_text() == manifest
    assert sorted(p.name for p in store.glob("gen-*")) == [json.loads(manifest)["generation"]]  # no half-written one
    assert len(Store.open(store)) == 40
    filler.unlink()
    dressup("index", tmp_path / "catalog.csv", "--store", store, "--index-kind", "hnsw")


def test_the_api_answers_507_on_a_full_disk_and_serves_the_edit_once_there_is_space(store_on_small_disk):
    store, table = store_on_small_disk
    admin = {"X-API-Key": ADMIN_KEY}
    photo = Path(table["image"].iat[5]).read_bytes()
    with server_in_thread(store, admin_key=ADMIN_KEY) as client:
        assert client.post("/users").status_code == 201  # the database exists before the disk fills
        filler = fill(store.parent, leave=4_000)
        refused = client.post("/items", data={"id": "new-2", "title": "New"}, files={"image": ("p.jpg", photo)},
                              headers=admin)
        assert refused.status_code == 507 and "no space left" in refused.json()["detail"]
        assert client.get("/items/new-2").status_code == 404
        updated = client.put(f"/items/{table['id'].iat[0]}", data={"title": "Renamed"}, headers=admin)
        assert updated.status_code in (200, 507)  # a few bytes of journal may still fit
        filler.unlink()
        added = client.post("/items", data={"id": "new-2", "title": "New"}, files={"image": ("p.jpg", photo)},
                            headers=admin)
        assert added.status_code == 201, added.text
        assert client.get("/items/new-2").json()["title"] == "New"
