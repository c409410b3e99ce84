"""An opened store: similar items by id and by photo, filters, clear errors, stores read while they are rewritten."""


import json

import pandas as pd
import pytest

from conftest import FPI, MANGO, fpi_table, layout_folder
from dressup import Filters, ImageError, Store, StoreError, UnknownItemError, index_catalog


def test_query_by_its_own_image_finds_the_item_first(small_store, small_catalog):
    image = FPI / "images" / f"{small_store.items['id'].iat[7]}.jpg"
    best = small_store.similar(image=image, k=3)[0]
    assert best.id == small_store.items["id"].iat[7]
    assert best.score == pytest.approx(1.0, abs=1e-4)


def test_filtered_similar_items_all_satisfy_the_filter(small_store):
    filters = Filters(where={"gender": "Men"}, max_price=60, size="M")
    matches = small_store.similar(item=small_store.items["id"].iat[0], k=10, filters=filters)
    allowed = small_store.mask(filters)
    assert len(matches) == min(10, int(allowed.sum()) - int(allowed[0]))
    for match in matches:
        item = small_store.item(match.id)
        assert item.gender == "Men" and item.price <= 60 and "M" in item.sizes


def test_unknown_id_and_unreadable_query_image_are_clear_errors(small_store, tmp_path):
    with pytest.raises(UnknownItemError, match="unknown item id 'nope'"):
        small_store.similar(item="nope")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((FPI / "images" / "10000.jpg").read_bytes()[:300])
    with pytest.raises(ImageError, match="broken.jpg"):
        small_store.similar(image=broken)
    with pytest.raises(ImageError, match="not a photo in a format DressUp reads"):
        small_store.similar(image=small_catalog_text(tmp_path))


def small_catalog_text(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not an image")
    return path


def test_opening_something_that_is_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="not a DressUp store"):
        Store.open(tmp_path)
    (tmp_path / "manifest.json").write_text("{broken")
    with pytest.raises(StoreError, match="manifest.json: unreadable, not a manifest"):
        Store.open(tmp_path)


def test_similar_all_lines(small_store):
    lines = list(small_store.similar_all(k=10))
    assert [item for item, _ in lines] == small_store.items["id"].tolist()
    for item, matches in lines:
        assert len(matches) == 10 and item not in [m.id for m in matches]
    json.dumps([{"item": i, "similar": [{"id": m.id, "score": m.score} for m in ms]} for i, ms in lines])


def test_k_larger_than_the_catalog_returns_every_other_item(tmp_path, styles, encoder):
    fpi_table(styles, 6).to_csv(tmp_path / "catalog.csv", index=False)
    index_catalog(tmp_path / "catalog.csv", tmp_path / "store", encoder=encoder)
    store = Store.open(tmp_path / "store")
    first = store.items["id"].iat[0]
    assert sorted(m.id for m in store.similar(item=first, k=50)) == sorted(store.items["id"].iloc[1:])
    assert [len(ms) for _, ms in store.similar_all(k=50)] == [5] * 6


def test_python_api_catalog_then_store_with_positional_queries(tmp_path, encoder):
    from dressup import Catalog

    folder = layout_folder(tmp_path, MANGO, "products.csv", 30)
    catalog = Catalog.read(folder)
    assert catalog.layout == "mango" and len(catalog) == 30
    first = next(iter(catalog))
    assert catalog.item(first.id) == first and first.brand == "Mango"
    index_catalog(catalog, tmp_path / "store", encoder=encoder)
    store = Store.open(tmp_path / "store")
    by_id = store.similar(first.id, k=3)
    by_image = store.similar(first.image, k=3)
    assert len(by_id) == 3 and first.id not in [m.id for m in by_id]
    assert by_image[0].id == first.id
    with pytest.raises(ValueError, match="not several"):
        store.similar(first.id, item=first.id)


def test_a_store_opened_before_an_update_keeps_working(small_store, small_catalog):
    pd.read_csv(small_catalog).head(100).to_csv(small_catalog, index=False)
    index_catalog(small_catalog, small_store.path)
    image = FPI / "images" / f"{small_store.items['id'].iat[3]}.jpg"
    assert small_store.similar(image=image, k=2)[0].id == small_store.items["id"].iat[3]  # old generation, lazily loaded encoder
    assert small_store.embeddings().shape == (120, 1280)


def test_unknown_text_query_is_an_unknown_id(small_store):
    with pytest.raises(UnknownItemError):
        small_store.similar("no-such-item")


def test_joint_precision_survives_short_result_lists(small_store):
    from dressup.evaluation.retrieval import evaluate_retrieval

    report, _, found = evaluate_retrieval(small_store, ["articleType", "baseColour"], k=200)
    assert (found[:, -81:] == -1).all()
    assert 0 < report.precision["articleType+baseColour"] <= report.precision["articleType"] <= 1


def test_a_generation_written_before_the_arrow_item_file_opens_with_the_same_answers(small_store):
    folder = small_store.path / small_store.manifest["generation"]
    query = small_store.items["id"].iat[3]
    before = [(m.id, m.score) for m in small_store.similar(item=query, k=5, filters=Filters(where={"gender": "Men"}))]
    record = small_store.item(query)
    small_store.close()
    small_store.items.to_parquet(folder / "items.parquet", index=False)  # the file earlier versions wrote
    (folder / "items.arrow").unlink()
    old = Store.open(small_store.path)
    assert [(m.id, m.score) for m in old.similar(item=query, k=5, filters=Filters(where={"gender": "Men"}))] == before
    assert old.item(query) == record


def test_ids_are_found_among_many_and_unknown_ones_are_minus_one(small_store):
    ids = small_store.items["id"].tolist()
    wanted = [ids[5], "no-such-item", ids[0], ids[-1], ids[5]]
    assert small_store.state.rows_of(wanted).tolist() == [5, -1, 0, len(ids) - 1, 5]
