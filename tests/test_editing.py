"""Live catalog edits in the library: add, change and remove single products; bad edits leave the store untouched."""

from __future__ import annotations

import pytest

from conftest import FPI
from dressup import Filters, ImageError, Store, UnknownItemError
from dressup.store.editing import Edit, ItemEditError, ItemExistsError, add_item, apply_edits, remove_item, update_item


def photo(item_id) -> bytes:
    return (FPI / "images" / f"{item_id}.jpg").read_bytes()


def untouched(store: Store):
    """What must not change when an edit is refused: the manifest and the current generation's files."""
    return (store.path / "manifest.json").read_text(), sorted(p.name for p in store.path.iterdir())


def test_an_added_product_is_found_by_its_own_photo(small_store):
    new_photo = photo(small_store.ids[0])  # a photo the catalog already shows, now of a second product
    item = add_item(small_store.path, {"id": "new-1", "title": "Copy shirt", "category": "Shirts", "price": 12.5, "sizes": "S,M"},
                    new_photo)
    assert (item.id, item.price, item.sizes) == ("new-1", 12.5, ("S", "M"))
    store = Store.open(small_store.path)
    assert len(store) == 121 and store.item("new-1").title == "Copy shirt"
    found = [m.id for m in store.similar(image=FPI / "images" / f"{small_store.ids[0]}.jpg", k=2)]
    assert set(found) == {"new-1", small_store.ids[0]}


def test_a_metadata_change_keeps_the_vectors_and_the_index(small_store):
    first = small_store.ids[0]
    before = (small_store.generation_path / "index.faiss").read_bytes()
    update_item(small_store.path, first, {"title": "Renamed", "attributes": {"season": "Winter"}})
    store = Store.open(small_store.path)
    assert store.item(first).title == "Renamed" and store.item(first).attributes["season"] == "Winter"
    assert (store.generation_path / "index.faiss").read_bytes() == before
    assert [m.id for m in store.similar(first, k=5)] == [m.id for m in small_store.similar(first, k=5)]


def test_a_removed_product_is_never_found_again(small_store):
    gone = small_store.ids[3]
    remove_item(small_store.path, gone)
    store = Store.open(small_store.path)
    assert gone not in store and len(store) == 119
    assert all(gone not in [m.id for m in store.similar(item_id, k=10)] for item_id in store.ids[store.state.alive][:20])


@pytest.mark.parametrize("edit, error", [
    (lambda path, ids: update_item(path, "no-such-item", {"title": "x"}), UnknownItemError),
    (lambda path, ids: remove_item(path, "no-such-item"), UnknownItemError),
    (lambda path, ids: add_item(path, {"id": ids[1]}, photo(ids[0])), ItemExistsError),
    (lambda path, ids: add_item(path, {"id": "new-2"}, b"\xff\xd8\xff not a photo"), ImageError),
    (lambda path, ids: update_item(path, ids[0], {"price": "cheap"}), ItemEditError),
    (lambda path, ids: update_item(path, ids[0], {"colour_of_the_sky": "blue"}), ItemEditError),
    (lambda path, ids: update_item(path, ids[0], {"attributes": {"nested": {"a": 1}}}), ItemEditError),
    (lambda path, ids: add_item(path, {"id": "tab\there"}, photo(ids[0])), ItemEditError),
], ids=["unknown id", "remove unknown", "duplicate add", "undecodable photo", "price not a number", "unknown field",
        "attribute not a scalar", "id with a tab"])
def test_a_bad_edit_is_one_clear_error_and_changes_nothing(small_store, edit, error):
    before = untouched(small_store)
    with pytest.raises(error):
        edit(small_store.path, small_store.ids.tolist())
    assert untouched(small_store) == before


def test_attribute_names_are_capped_per_item_and_per_catalog(small_store):
    from dressup.store.editing import MAX_ATTRIBUTES, MAX_STORE_ATTRIBUTES

    ids = small_store.ids.tolist()
    with pytest.raises(ItemEditError, match=f"at most {MAX_ATTRIBUTES}"):
        update_item(small_store.path, ids[0], {"attributes": {f"k{i}": 1 for i in range(MAX_ATTRIBUTES + 1)}})
    names = iter(range(10_000))
    for number in range(2 * MAX_STORE_ATTRIBUTES // MAX_ATTRIBUTES + 2):
        edit = {"attributes": {f"key{next(names)}": "x" for _ in range(MAX_ATTRIBUTES // 2)}}
        try:
            update_item(small_store.path, ids[number], edit)
        except ItemEditError as error:
            assert f"at most {MAX_STORE_ATTRIBUTES}" in str(error)
            break
    else:
        pytest.fail("new attribute names were never refused")
    update_item(small_store.path, ids[5], {"attributes": {"key0": "reused"}})  # names the catalog has are still welcome
    assert Store.open(small_store.path).item(ids[5]).attributes["key0"] == "reused"


def test_stock_is_a_live_field_that_search_respects(small_store):
    first, second = small_store.ids[0], small_store.ids[1]
    near = [m.id for m in small_store.similar(first, k=3)]
    update_item(small_store.path, near[0], {"in_stock": False})
    store = Store.open(small_store.path)
    assert near[0] not in [m.id for m in store.similar(first, k=10)]
    assert near[0] in [m.id for m in store.similar(first, k=10, filters=Filters(include_unavailable=True))]
    assert store.item(near[0]).in_stock is False and (store.generation_path / "index.faiss").exists()
    sized = next(i for i in store.ids if "M" in store.item(i).sizes and i != second)
    update_item(small_store.path, sized, {"sold_out_sizes": "M"})
    store = Store.open(small_store.path)
    found = [m.id for m in store.similar(second, k=120, filters=Filters(size="M"))]
    assert sized not in found and all("M" in store.item(i).sizes for i in found)
    assert sized in [m.id for m in store.similar(second, k=120, filters=Filters(size="M", include_unavailable=True))]


def test_a_batch_of_edits_is_applied_whole_or_not_at_all(small_store):
    ids = small_store.ids.tolist()
    before = untouched(small_store)
    with pytest.raises(UnknownItemError):
        apply_edits(small_store.path, [Edit("update", ids[0], {"title": "A"}), Edit("remove", ids[1]),
                                       Edit("update", "no-such-item", {"title": "B"})])
    assert Store.open(small_store.path).item(ids[0]).title != "A" and untouched(small_store)[0] == before[0]
    done = apply_edits(small_store.path, [Edit("add", "batch-1", {"title": "One"}, photo(ids[5])),
                                          Edit("update", "batch-1", {"price": 9.5}), Edit("remove", ids[1])])
    store = Store.open(small_store.path)
    assert [d.id if d else None for d in done] == ["batch-1", "batch-1", None]
    assert store.item("batch-1").price == 9.5 and store.item("batch-1").title == "One" and ids[1] not in store


def test_an_open_store_serves_other_processes_edits_after_a_refresh(small_store):
    reader = Store.open(small_store.path)
    gone = reader.ids[2]
    remove_item(small_store.path, gone)  # another writer
    assert gone in reader  # this reader's state until it looks again
    assert reader.refresh() and gone not in reader and len(reader) == 119
