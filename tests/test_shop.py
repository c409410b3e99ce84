"""`Shop`: one store wired to its capabilities, kept current, never mixing generations within a request."""

from __future__ import annotations

import shutil
import time

from dressup.recommenders import RecommenderConfig
from dressup.shop import Shop
from dressup.store.editing import remove_item
from dressup.users import NewEvent, import_events


def test_a_reloaded_shop_never_mixes_generations(api_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(api_store, store)
    shop = Shop(store)
    before = shop.generation
    ids = before.state.ids[before.state.alive].tolist()
    remove_item(store, ids[0])  # by another process, as far as this shop knows
    shop.reload()
    after = shop.generation
    assert after is not before and len(after.state) == len(ids) - 1 and ids[0] not in after.state
    assert all(after.item(item_id).id == item_id for item_id in ids[1:])  # every id still finds its own item
    assert all(before.item(item_id).id == item_id for item_id in ids)  # the old one stays whole


def test_searching_and_completing_outfits_never_open_the_users_database(api_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(api_store, store, ignore=shutil.ignore_patterns("users.sqlite*"))
    generation = Shop(store).generation
    first = generation.store.ids[0]
    assert first not in [m.id for m in generation.similar_to_item(first, k=5)]
    assert generation.outfits([first], n=1) and generation.facets().values["category"]
    assert not (store / "users.sqlite").exists()


def test_a_forgotten_users_purchases_stop_counting_at_the_next_request(hm_store_path, tmp_path):
    """"Forget me" refits at the next request, not an hour later: the user's purchases leave "popular now"."""
    store = tmp_path / "store"
    shutil.copytree(hm_store_path, store)
    import_events(store, hm_store_path.parent / "catalog" / "transactions.csv")
    shop = Shop(store, recommender_config=RecommenderConfig(refit_seconds=3600, exploration=0))
    rarely_sold = shop.events.events()["item"].value_counts().index[-1]
    shop.events.add_many([NewEvent("fan", rarely_sold, "purchase") for _ in range(60)])
    generation = shop.generation
    assert generation.recommend("visitor", k=5)[0].id == rarely_sold
    before = generation.recommender.signals()
    shop.forget("fan")
    deadline = time.monotonic() + 60
    while generation.recommender.signals() is before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rarely_sold not in {r.id for r in generation.recommend("visitor", k=5)}
    shop.close()


def test_an_event_on_an_unknown_item_is_refused_before_the_database(hm_store_path, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(hm_store_path, store)
    shop = Shop(store)
    item = shop.generation.store.ids[0]
    shop.add_event("ann", item, "like", create_user=True)
    try:
        shop.add_event("ann", "no-such-item", "like", create_user=True)
    except KeyError as error:
        assert "unknown item id 'no-such-item'" in str(error)
    else:
        raise AssertionError("an event on an unknown item was stored")
    assert shop.events.events("ann")["item"].tolist() == [item]
    shop.close()
