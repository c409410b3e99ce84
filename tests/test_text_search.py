"""Text search (`Store.search`, `dressup search`, /search) on real H&M articles, a catalog the text tower never saw."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import HM, dressup, fails_cleanly, hm_subset, server_in_thread
from dressup import Filters, Store
from dressup.store import FilterError, SearchError
from dressup.store.editing import add_item, remove_item, update_item


@pytest.fixture(scope="module")
def text_store(tmp_path_factory):
    """The ~600 articles bought by 80 H&M customers, indexed by plain `index_catalog` (the default encoder), with
    their sold prices."""
    from dressup import CatalogSource, index_catalog

    folder = hm_subset(tmp_path_factory.mktemp("hm-text") / "catalog")
    index_catalog(CatalogSource(folder, image_root=HM), folder.parent / "store")
    return folder.parent / "store"


@pytest.fixture
def own_store(tmp_path, text_store):
    shutil.copytree(text_store, tmp_path / "store")
    return tmp_path / "store"


def common_pair(store: Store) -> tuple[str, str, int]:
    items = store.items
    (colour, kind), count = next(iter(items[["colour", "category"]].value_counts().items()))
    return colour, kind, count


@pytest.mark.parametrize("mode, least", [("hybrid", 0.8), ("keywords", 0.8), ("visual", 0.4)])
def test_colour_and_type_words_find_products_of_both(text_store, mode, least):
    store = Store.open(text_store)
    colour, kind, count = common_pair(store)
    assert count >= 10
    found = [store.item(m.id) for m in store.search(f"{colour} {kind}", k=10, mode=mode)]
    both = np.mean([(i.colour, i.category) == (colour, kind) for i in found])
    assert len(found) == 10 and both >= least, (mode, colour, kind, [(i.colour, i.category) for i in found])


def test_named_colour_and_type_come_first_unless_the_text_is_a_description(text_store):
    store = Store.open(text_store)
    colour, kind, count = common_pair(store)
    found = store.search_results(f"{kind.lower()} in {colour.lower()}", k=count + 5)
    assert found.preferred == {"colour": colour, "category": kind}
    pairs = [(store.item(m.id).colour, store.item(m.id).category) for m in found.matches]
    assert pairs[:count] == [(colour, kind)] * count and (colour, kind) not in pairs[count:]  # all of them, then others
    words_only = store.search_results(f"{kind.lower()} in {colour.lower()}", k=count + 5, prefer_named=False)
    assert words_only.preferred == {} and [m.id for m in words_only.matches] != [m.id for m in found.matches]
    description = f"soft {colour} jersey with a {kind} look, wide cut, long sleeves and a ribbed hem"
    assert store.search_results(description, k=5).preferred == {}  # a description names colours and types in passing


def test_visual_mode_ranks_by_the_photos_alone(text_store):
    """Text that names a type the catalog's words do not: the image vectors still find that type."""
    store = Store.open(text_store)
    found = [store.item(m.id).category for m in store.search("trousers", k=10, mode="visual")]
    assert np.mean([kind == "Trousers" for kind in found]) >= 0.6, found


def test_a_description_finds_its_product(text_store):
    store = Store.open(text_store)
    items = store.items.dropna(subset=["attr:detail_desc"]).head(30)
    hits = []
    for description, code in zip(items["attr:detail_desc"], items["attr:product_code"], strict=True):
        found = store.search(description, k=10)
        hits.append(any(store.item(m.id).attributes["product_code"] == code for m in found))
    assert np.mean(hits) >= 0.9


def test_price_and_gender_words_become_filters(text_store):
    store = Store.open(text_store)
    found = store.search_results("menswear trousers under 30", k=10)
    assert found.understood["max_price"] == 30 and found.understood["gender"] == "Men"
    items = [store.item(m.id) for m in found.matches]
    assert items and all(i.price <= 30 and i.gender == "Men" for i in items)
    assert "trousers" in found.searched and "30" not in found.searched


@pytest.mark.parametrize("text, understood", [("shorts <50", {"max_price": 50}), ("dress under 1,500", {"max_price": 1500}),
                                              ("top under 49,90", {"max_price": 49.9}),
                                              ("jeans between 10 and 20", {"min_price": 10, "max_price": 20})])
def test_prices_as_shoppers_type_them(text_store, text, understood):
    found = Store.open(text_store).search_results(text, k=3, mode="keywords")
    assert {k: v for k, v in found.understood.items() if k.endswith("price")} == understood
    assert not any(ch.isdigit() for ch in found.searched)


def test_like_this_but_in_another_colour(text_store):
    store = Store.open(text_store)
    items = store.items
    photo = items.loc[items["colour"] == "Black", "image"].iloc[0]
    wanted = next(c for c in items["colour"].value_counts().index if c != "Black")
    found = store.search_results(f"like this, but in {wanted.lower()}", image=photo, k=8)
    assert found.understood == {"colour": wanted}
    assert found.matches and all(store.item(m.id).colour == wanted for m in found.matches)


def test_filters_apply_and_an_unknown_one_is_an_error(text_store):
    store = Store.open(text_store)
    found = store.search("dress", k=10, filters=Filters(where={"colour": "Black"}))
    assert found and all(store.item(m.id).colour == "Black" for m in found)
    with pytest.raises(FilterError, match="no_such_column"):
        store.search("dress", filters=Filters(where={"no_such_column": "x"}))


@pytest.mark.parametrize("text, message", [("", "empty query"), ("   ", "empty query"), ("the and of it", "stop words"),
                                           ("x" * 10_000, "at most"), ("!!! ???", "stop words")])
def test_queries_that_cannot_be_searched_are_one_clear_error(text_store, text, message):
    with pytest.raises(SearchError, match=message):
        Store.open(text_store).search(text)


def test_a_language_it_was_not_trained_on_is_a_best_effort(text_store):
    found = Store.open(text_store).search("schwarze hose für damen", k=5)
    assert len(found) == 5


def test_an_unknown_mode_and_visual_mode_without_a_text_tower_are_errors(text_store, hm_store_path):
    with pytest.raises(SearchError, match="unknown search mode"):
        Store.open(text_store).search("dress", mode="semantic")
    imagenet = Store.open(hm_store_path)  # indexed with the ImageNet encoder: no text tower fits its vectors
    with pytest.raises(SearchError, match="text tower"):
        imagenet.search("dress", mode="visual")
    assert imagenet.search("dress", k=3)  # hybrid falls back on keywords


def test_catalog_edits_are_searched_at_once(own_store):
    store = Store.open(own_store)
    first = store.ids[0]
    photo = open(store.item(first).image, "rb").read()
    add_item(own_store, {"id": "new-1", "title": "Zebrastripe kimono", "category": "Kimono", "colour": "Black"}, photo)
    update_item(own_store, first, {"title": "Quokka print hoodie"})
    store = Store.open(own_store)
    assert [m.id for m in store.search("zebrastripe", k=3, mode="keywords")] == ["new-1"]
    assert store.search("quokka print", k=1, mode="keywords")[0].id == first
    remove_item(own_store, "new-1")
    assert "new-1" not in [m.id for m in Store.open(own_store).search("zebrastripe kimono", k=10)]


def test_a_new_store_writes_its_keyword_index(text_store):
    generation = Store.open(text_store).generation_path
    assert (generation / "keywords").is_dir()


# -- command line -------------------------------------------------------------------------------

def test_search_command_prints_json(text_store):
    colour, kind, _ = common_pair(Store.open(text_store))
    done = dressup("search", "--store", str(text_store), f"{colour} {kind}", "-k", "5", "--json")
    found = json.loads(done.stdout)
    assert found["mode"] == "hybrid" and len(found["items"]) == 5
    assert all(i["colour"] == colour for i in found["items"])


def test_search_command_runs_a_batch_of_queries(text_store, tmp_path):
    store = Store.open(text_store)
    photo = store.items["image"].iloc[0]
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join(json.dumps(q) for q in [
        {"id": "q1", "text": "black trousers"}, {"id": "q2", "text": "red", "image": photo}, {"id": "q3", "text": "the of"}]))
    out = tmp_path / "results.jsonl"
    dressup("search", "--store", str(text_store), "--queries", str(queries), "--output", str(out), "-k", "4",
            "--mode", "visual")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["q1", "q2", "q3"]
    assert len(lines[0]["items"]) == 4 and set(lines[0]["items"][0]) == {"id", "score"}
    assert lines[2]["items"] == [] and "stop words" in lines[2]["error"]


def test_search_command_errors_are_one_line(text_store, tmp_path):
    fails_cleanly(dressup("search", "--store", str(text_store), check=False), "give a query text")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "q1", "text": "dress"}\nnot json\n')
    fails_cleanly(dressup("search", "--store", str(text_store), "--queries", str(bad), "--output",
                          str(tmp_path / "r.jsonl"), check=False), "line 2")
    fails_cleanly(dressup("search", "--store", str(text_store), "dress", "--mode", "visual", "--where", "nope=1",
                          check=False), "nope")


# -- REST API -----------------------------------------------------------------------------------

def test_search_routes(text_store):
    store = Store.open(text_store)
    colour, kind, _ = common_pair(store)
    photo = open(store.items["image"].iloc[0], "rb").read()
    with server_in_thread(text_store) as client:
        found = client.get("/search", params={"q": f"{colour} {kind}", "k": 5})
        assert found.status_code == 200 and found.json()["mode"] == "hybrid"
        assert [i["colour"] for i in found.json()["items"]] == [colour] * 5
        cheap = client.get("/search", params={"q": "dress under 20", "k": 5}).json()
        assert cheap["understood"] == {"max_price": 20} and all(i["price"] <= 20 for i in cheap["items"])
        modified = client.post("/search", data={"q": f"in {colour.lower()}", "k": "3"},
                               files={"image": ("p.jpg", photo, "image/jpeg")})
        assert modified.status_code == 200 and modified.json()["understood"] == {"colour": colour}
        for params in ({"q": ""}, {"q": "x" * 5000}, {"q": "the of"}, {"q": "dress", "mode": "semantic"},
                       {"q": "dress", "where": "nope=1"}):
            answer = client.get("/search", params=params)
            assert answer.status_code == 422, (params, answer.text)
        assert client.post("/search", data={"q": ""}).status_code == 422


def test_a_text_tower_trains_towards_the_photos(text_store, tmp_path):
    pytest.importorskip("torch")
    from dressup.encoders.text_tower import TextTower
    from dressup.training.text_tower import TextTowerConfig, train_text_tower

    store = Store.open(text_store)
    items, targets = store.items.reset_index(drop=True), np.asarray(store.embeddings(), np.float32)
    cut = int(0.8 * len(items))
    tower, report = train_text_tower(items[:cut], targets[:cut], (items[cut:], targets[cut:]), name="t",
                                     image_encoder=store.encoder.name, image_fingerprint=store.encoder.fingerprint,
                                     config=TextTowerConfig(epochs=6, batch_size=64, patience=6))
    losses = [epoch["loss"] for epoch in report.history]
    assert losses[-1] < 0.8 * losses[0] and report.history[-1]["description_r10"] > report.history[0]["description_r10"]
    again = TextTower.load(tower.save(tmp_path / "tower"))
    assert again.encode(["black trousers"]).shape == (1, targets.shape[1])
    assert np.allclose(again.encode(["black trousers"]), tower.encode(["black trousers"]), atol=1e-3)
