"""`index_catalog`: real layouts indexed, catalogs updated incrementally, crashes and bad images survived."""


import itertools
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import FPI, HM, MANGO, fpi_table, layout_folder
from dressup import CatalogError, DressUpError, ImageError, Store, index_catalog


@pytest.mark.parametrize(
    "dataset, table, extra",
    [(FPI, "styles.csv", ()), (HM, "articles.csv", ("transactions.csv",)), (MANGO, "products.csv", ())],
    ids=["fashion-product-images", "hm", "mango"],
)
def test_index_each_real_layout_and_search_it(tmp_path, encoder, dataset, table, extra):
    folder = layout_folder(tmp_path, dataset, table, 40, extra)
    report = index_catalog(folder, tmp_path / "store", encoder=encoder)
    assert (report.items, report.added, report.embedded, report.unreadable) == (40, 40, 40, [])
    store = Store.open(tmp_path / "store")
    first = store.items["id"].iat[0]
    matches = store.similar(item=first, k=5)
    assert len(matches) == 5 and first not in [m.id for m in matches]
    assert all(a.score >= b.score for a, b in itertools.pairwise(matches))
    manifest = store.manifest
    assert manifest["encoder"]["name"] == "mobilenetv2-imagenet"
    assert manifest["dimension"] == 1280 and manifest["counts"]["items"] == 40
    assert {"dressup", "faiss", "onnxruntime", "numpy"} <= set(manifest["versions"])


def test_incremental_update_embeds_only_new_and_changed_images(tmp_path, styles, encoder):
    catalog = tmp_path / "catalog.csv"
    table = fpi_table(styles, 60)
    table.to_csv(catalog, index=False)
    index_catalog(catalog, tmp_path / "store", encoder=encoder)
    before = Store.open(tmp_path / "store")
    kept_vector = np.array(before.embeddings()[before.row(table.id.iat[20])])

    changed = pd.concat([table.iloc[5:], fpi_table(styles, 5, start=100)])  # 5 removed, 5 added
    changed.loc[changed.id == table.id.iat[10], "image"] = str(FPI / "images" / f"{styles.id.iat[200]}.jpg")
    changed.loc[changed.id == table.id.iat[20], "productDisplayName"] = "Renamed shirt"
    changed.to_csv(catalog, index=False)
    report = index_catalog(catalog, tmp_path / "store")  # the store's own encoder

    assert (report.added, report.removed, report.updated_images, report.embedded) == (5, 5, 1, 6)
    assert not report.encoder_changed
    assert report.unchanged == 54
    after = Store.open(tmp_path / "store")
    assert len(after) == 60 and table.id.iat[0] not in after
    assert after.item(table.id.iat[20]).title == "Renamed shirt"
    assert np.array_equal(after.embeddings()[after.row(table.id.iat[20])], kept_vector)
    # a few changes go into the catalog journal: no new generation, the graph untouched
    assert report.journaled == 12 and report.generation == before.manifest["generation"] == after.manifest["generation"]
    assert sorted(p.name for p in (tmp_path / "store").glob("gen-*")) == ["gen-000001"]


def test_unreadable_images_are_skipped_and_reported(tmp_path, styles, encoder):
    table = fpi_table(styles, 30)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    table.loc[3, "image"] = str(corrupt)
    table.loc[4, "image"] = str(tmp_path / "missing.jpg")
    table.loc[5, "image"] = ""
    table.to_csv(tmp_path / "catalog.csv", index=False)
    report = index_catalog(tmp_path / "catalog.csv", tmp_path / "store", encoder=encoder)
    assert report.items == 27
    assert sorted(item for item, _ in report.unreadable) == sorted(table.id.astype(str).iloc[3:6])
    messages = " ".join(message for _, message in report.unreadable)
    assert "corrupt.jpg" in messages and "missing.jpg" in messages
    assert Store.open(tmp_path / "store").manifest["counts"]["unreadable_images"] == 3


def test_a_failed_update_leaves_the_store_as_it_was(small_store, tmp_path):
    manifest = (small_store.path / "manifest.json").read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("id,image\n1,a.jpg\n1,b.jpg\n")
    with pytest.raises(CatalogError):
        index_catalog(bad, small_store.path)
    assert (small_store.path / "manifest.json").read_bytes() == manifest
    assert len(Store.open(small_store.path)) == len(small_store)


def test_a_catalog_without_any_readable_image_is_refused(tmp_path, encoder):
    (tmp_path / "catalog.csv").write_text("id,image\n1,nowhere.jpg\n2,\n")
    with pytest.raises(DressUpError, match="none of the catalog's 2 images could be read"):
        index_catalog(tmp_path / "catalog.csv", tmp_path / "store", encoder=encoder)
    assert not (tmp_path / "store" / "manifest.json").exists()


def test_killed_index_run_keeps_the_old_store_and_resumes(tmp_path, styles, encoder):
    catalog = tmp_path / "catalog.csv"
    fpi_table(styles, 20).to_csv(catalog, index=False)
    store_path = tmp_path / "store"
    index_catalog(catalog, store_path, encoder=encoder)
    fpi_table(styles, 600).to_csv(catalog, index=False)

    command = [sys.executable, "-m", "dressup.cli", "index", str(catalog), "--store", str(store_path),
               "--checkpoint-every", "32", "--batch-size", "16"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(store_path.glob("work/*/chunk-*.npz"))) < 3:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert len(list(store_path.glob("work/*/chunk-*.npz"))) >= 3, "the run ended before checkpointing"
    work = next(store_path.glob("work/*/"))
    (work / "chunk-999998.npz").write_bytes(b"")  # what a kill mid-write can leave: empty and cut-short chunks
    (work / "chunk-999999.npz").write_bytes(b"PK\x03\x04" + bytes(100))

    interrupted = Store.open(store_path)  # the old generation is still the store
    assert len(interrupted) == 20
    interrupted.similar(item=interrupted.items["id"].iat[0], k=3)

    report = index_catalog(catalog, store_path)
    assert report.resumed >= 3 * 32
    assert report.embedded == 580 - report.resumed
    assert len(Store.open(store_path)) == 600
    assert not (store_path / "work").exists()


def test_a_generation_left_behind_by_a_crash_does_not_block_the_next_run(small_store, small_catalog):
    (small_store.path / "gen-000002").mkdir()          # renamed, but the manifest was never swapped
    (small_store.path / "gen-000002.tmp").mkdir()      # and one cut short while writing
    (small_store.path / "gen-000002" / "junk").write_text("x")
    pd.read_csv(small_catalog).head(100).to_csv(small_catalog, index=False)
    index_catalog(small_catalog, small_store.path)
    assert len(Store.open(small_store.path)) == 100


def test_decompression_bombs_are_refused_and_skipped(tmp_path, styles, encoder):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IEND", b""))
    with pytest.raises(ImageError, match="bomb.png"):
        encoder.encode([bomb])
    table = fpi_table(styles, 5)
    table.loc[0, "image"] = str(bomb)
    table.to_csv(tmp_path / "catalog.csv", index=False)
    report = index_catalog(tmp_path / "catalog.csv", tmp_path / "store", encoder=encoder)
    assert report.items == 4 and [item for item, _ in report.unreadable] == [str(table.id.iat[0])]


def test_changing_the_encoder_embeds_everything_again(tmp_path, styles, encoder):
    fpi_table(styles, 8).to_csv(tmp_path / "catalog.csv", index=False)
    index_catalog(tmp_path / "catalog.csv", tmp_path / "store", encoder=encoder)
    report = index_catalog(tmp_path / "catalog.csv", tmp_path / "store", encoder="efficientnet-lite0-imagenet")
    assert report.encoder_changed and report.embedded == 8
    store = Store.open(tmp_path / "store")
    assert store.manifest["encoder"]["name"] == "efficientnet-lite0-imagenet"
    again = index_catalog(tmp_path / "catalog.csv", tmp_path / "store")  # keeps the store's encoder
    assert not again.encoder_changed and again.embedded == 0


def test_a_metadata_only_update_reuses_the_index(small_store, small_catalog):
    table = pd.read_csv(small_catalog)
    table.loc[0, "productDisplayName"] = "Renamed"
    table.to_csv(small_catalog, index=False)
    before = (small_store.generation_path / "index.faiss").read_bytes()
    report = index_catalog(small_catalog, small_store.path)
    after = Store.open(small_store.path)
    assert report.embedded == 0 and report.journaled == 1  # one change in the journal: no new generation
    assert after.manifest["generation"] == small_store.manifest["generation"]
    assert after.item(str(table.id.iat[0])).title == "Renamed"
    assert (after.generation_path / "index.faiss").read_bytes() == before
    assert [m.id for m in after.similar(str(table.id.iat[1]), k=5)] == [m.id for m in small_store.similar(str(table.id.iat[1]),
                                                                                                          k=5)]
