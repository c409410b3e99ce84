"""Personal feeds on a real H&M subset: profiles, filters, cold start, diversity, live events, evaluation."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, timedelta

import numpy as np
import pandas as pd
import pytest

from conftest import dressup
from dressup import Filters, Store
from dressup.metrics import intra_list_diversity
from dressup.recommenders import DressUpRecommender, RecommenderConfig, RecommendError
from dressup.recommenders import dressup as recommender_module
from dressup.recommenders.signals import once_buyers
from dressup.users import EventStore, NewEvent


@pytest.fixture(scope="module")
def recommender(hm_events):
    return DressUpRecommender.open(hm_events)


def busiest_user(store_path) -> str:
    events = EventStore.open(store_path).events()
    return events["user"].value_counts().index[0]


def typical_user(store_path) -> str:
    """A user with a few purchases (the median customer buys 4 items)."""
    counts = EventStore.open(store_path).events()["user"].value_counts()
    return counts[counts.between(5, 8)].index[0]


def test_a_feed_follows_the_users_history(recommender, hm_events):
    user = busiest_user(hm_events)
    feed = recommender.recommend(user, k=12)
    assert len(feed) == 12 and len({r.id for r in feed}) == 12
    assert all(r.id in recommender.store for r in feed)
    history = EventStore.open(hm_events).events(user=user)
    categories = set(recommender.store.items.set_index("id").loc[history["item"], "category"])
    feed_categories = recommender.store.items.set_index("id").loc[[r.id for r in feed], "category"]
    assert feed_categories.isin(categories).mean() >= 0.5  # mostly the kinds of things the user buys
    assert feed != recommender.recommend("someone-new", k=12)
    assert recommender.recommend(user, k=12) == feed  # exploration is stable for a user, not random per call


def test_a_user_without_history_gets_recent_best_sellers(recommender, hm_events):
    sales = EventStore.open(hm_events).events(kinds=["purchase"])
    age_days = (sales["timestamp"].max() - sales["timestamp"]).dt.days
    recent_sales = (0.5 ** (age_days / RecommenderConfig().popularity_half_life_days)).groupby(sales["item"]).sum()
    feed = recommender.recommend("never-seen-before", k=5)
    assert len(feed) == 5
    assert all(r.reason in ("popular now", "something new") for r in feed)
    assert recent_sales[feed[0].id] == pytest.approx(recent_sales.max())
    assert recent_sales.reindex([r.id for r in feed]).fillna(0).mean() > 5 * recent_sales.mean()


def test_filters_are_exact(recommender, hm_events):
    user = busiest_user(hm_events)
    items = recommender.store.items.set_index("id")
    category = items["category"].value_counts().index[0]
    budget = float(items.loc[items["category"] == category, "price"].median())
    filters = Filters(where={"category": category}, max_price=budget)
    for feed in (recommender.recommend(user, 12, filters), recommender.recommend("nobody", 12, filters)):
        assert feed, "some items satisfy the filters"
        chosen = items.loc[[r.id for r in feed]]
        assert (chosen["category"] == category).all() and (chosen["price"] <= budget).all()
    impossible = Filters(max_price=-1.0)
    assert recommender.recommend(user, 12, impossible) == []


def test_diversity_spreads_the_list_at_a_stated_cost(hm_events):
    store = Store.open(hm_events)
    user = typical_user(hm_events)
    plain = DressUpRecommender(store, EventStore.open(hm_events), RecommenderConfig(diversity=0.0, exploration=0.0))
    diverse = DressUpRecommender(store, EventStore.open(hm_events), RecommenderConfig(diversity=0.5, exploration=0.0))
    vectors = np.asarray(store.vectors)
    feeds = [[r.id for r in model.recommend(user, 12)] for model in (plain, diverse)]
    spread = [intra_list_diversity([vectors[store.rows_of(feed)]]) for feed in feeds]
    assert spread[1] > spread[0] + 0.02


def test_likes_and_dislikes_change_the_feed_at_once(hm_events, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(hm_events, store)
    recommender = DressUpRecommender.open(store)
    events = EventStore.open(store)
    before = recommender.recommend("newcomer", k=12)
    liked = Store.open(store).items["id"].iat[7]
    events.add("newcomer", liked, "like")
    after = recommender.recommend("newcomer", k=12)
    assert after != before
    assert any(r.reason not in ("popular now", "something new") for r in after)
    assert all(r.reason in ("popular now", "something new") for r in before)
    disliked = after[0].id
    events.add("newcomer", disliked, "dislike")
    assert disliked not in {r.id for r in recommender.recommend("newcomer", k=12)}


def test_nothing_the_user_chose_is_shown_back_bar_the_learned_rebuys(hm_events, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(hm_events, store)
    events = EventStore.open(store)
    recommender = DressUpRecommender.open(store, events)
    signals, state = recommender.signals(), recommender.store.state
    rates = signals.rebuy_rates(state.codes("category"))
    assert (rates >= 1).any() and (rates < 1).any()  # learned: some categories are rebought more than others
    user = busiest_user(hm_events)
    chosen = {kind: item for kind, item in zip(("like", "cart", "rating"), state.ids_of(np.argsort(-signals.popularity)[:3]))}
    for kind, item in chosen.items():
        events.add(user, item, kind, value=5 if kind == "rating" else None)
    bought = set(events.events(user=user, kinds=["purchase"])["item"])
    feed = {r.id for r in recommender.recommend(user, k=50)}
    assert not feed & set(chosen.values())
    rebuys = {item for item in bought if rates[state.row(item)] >= RecommenderConfig().rebuy_above}
    assert not feed & (bought - rebuys)
    everything_back = recommender.with_config(RecommenderConfig(rebuy_above=0))
    assert {r.id for r in everything_back.recommend(user, k=50)} & bought  # with every purchase allowed back: history
    assert not {r.id for r in everything_back.recommend(user, k=50)} & set(chosen.values())


def test_a_feed_shows_one_colour_of_a_product_with_the_others_behind_it(recommender, hm_events):
    items = recommender.store.items.set_index("id")
    code = items["attr:product_code"]
    behind = 0
    for user in EventStore.open(hm_events).events()["user"].value_counts().index[:20]:
        feed = recommender.recommend(user, k=12)
        assert code.loc[[r.id for r in feed]].is_unique, user
        for r in feed:
            assert set(r.variants) <= set(code.index[code == code[r.id]]) - {r.id}
            behind += bool(r.variants)
    assert behind >= 20  # many products come in several colours


@pytest.mark.parametrize("kind", ["view", "like", "cart", "purchase", "rating", "dislike"])
def test_every_kind_of_event_moves_the_feed(hm_events, tmp_path, kind):
    store = tmp_path / "store"
    shutil.copytree(hm_events, store)
    events = EventStore.open(store)
    recommender = DressUpRecommender.open(store, events)
    user = typical_user(hm_events)
    before = recommender.recommend(user, k=12)
    item = before[0].id if kind == "dislike" else Store.open(store).items["id"].iat[11]
    events.add(user, item, kind, value=5 if kind == "rating" else None)
    after = recommender.recommend(user, k=12)
    assert [r.id for r in after] != [r.id for r in before], kind


def test_recommend_from_liked_items_without_a_user(recommender):
    liked = recommender.store.items["id"].iloc[[3, 40]].tolist()
    feed = recommender.recommend_from_items(liked, k=8)
    assert len(feed) == 8 and not set(liked) & {r.id for r in feed}
    with pytest.raises(RecommendError, match="unknown item"):
        recommender.recommend_from_items([liked[0], "no-such-item"])
    with pytest.raises(RecommendError):
        recommender.recommend_from_items([])


def test_cli_single_and_batch(hm_events, tmp_path):
    user = busiest_user(hm_events)
    single = dressup("recommend", "--store", str(hm_events), "--user", user, "-k", "5", "--json", check=False)
    assert single.returncode == 0, single.output
    assert len(json.loads(single.output)["items"]) == 5
    users = tmp_path / "users.txt"
    users.write_text(f"{user}\n\nunknown-customer\n")
    output = tmp_path / "recs.jsonl"
    batch = dressup("recommend", "--store", str(hm_events), "--users", str(users), "-k", "12", "--output", str(output),
                    check=False)
    assert batch.returncode == 0, batch.output
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["user"] for line in lines] == [user, "unknown-customer"]
    assert all(len(line["items"]) == 12 for line in lines)
    assert lines[0]["items"][:5] == [item["id"] for item in json.loads(single.output)["items"]]
    for setting, word in (("diversity=7", "diversity"), ("exploration=abc", "exploration"),
                          ("half_life_days=0", "half_life_days"),
                          ("max_interests=0.5", "max_interests"), ("colour=1", "unknown")):
        bad = dressup("recommend", "--store", str(hm_events), "--user", user, "--set", setting, check=False)
        assert bad.returncode == 1 and word in bad.output, (setting, bad.output)
    fine = dressup("recommend", "--store", str(hm_events), "--user", user, "--set", "exploration=1e-1", "--json", check=False)
    assert fine.returncode == 0, fine.output
    bom = tmp_path / "bom.txt"
    bom.write_text(f"{user}\n", encoding="utf-8-sig")
    dressup("recommend", "--store", str(hm_events), "--users", str(bom), "-k", "12", "--output", str(output), check=False)
    assert json.loads(output.read_text())["user"] == user


def test_eval_personalization_reports_every_method(hm_events, hm_store_path, tmp_path):
    events = hm_store_path.parent / "catalog" / "transactions.csv"
    result = dressup("eval", "personalization", "--store", str(hm_events), "--events", str(events),
                                 "--split-date", "2020-05-01", "--output-dir", str(tmp_path), check=False)
    assert result.returncode == 0, result.output
    report = json.loads((tmp_path / "personalization.json").read_text())
    assert set(report["methods"]) >= {"DressUp", "popular (last 7 days)", "own past purchases, then popular",
                                      "content-based (seeds)"}
    assert report["test_users"] > 0 and 0 <= report["methods"]["DressUp"]["map"] <= 1
    assert (tmp_path / "personalization.png").stat().st_size > 10_000
    low, high = report["map_ratio_interval"]  # how far chance alone moves the ratio, printed beside it
    assert 0 <= low <= high and "95% interval" in result.output
    with_offset = dressup("eval", "personalization", "--store", str(hm_events), "--events", str(events),
                          "--split-date", "2020-05-01T02:00+02:00", "--output-dir", str(tmp_path / "offset"), check=False)
    assert with_offset.returncode == 0, with_offset.output
    assert json.loads((tmp_path / "offset" / "personalization.json").read_text())["methods"] == report["methods"]
    late = dressup("eval", "personalization", "--store", str(hm_events), "--events", str(events), "--split-date", "2031-01-01",
                   check=False)
    assert late.returncode == 1 and "no purchases after" in late.output.replace("\n", " ")


def test_a_new_shop_without_events_gets_a_feed(hm_store_path, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(hm_store_path, store)
    recommender = DressUpRecommender.open(store)
    assert len(recommender.recommend("first-visitor", k=5)) == 5
    item = Store.open(store).items["id"].iat[0]
    EventStore.open(store).add("grumpy", item, "dislike")
    EventStore.open(store).add("neutral", item, "rating", value=3)
    recommender = DressUpRecommender.open(store)
    assert item not in {r.id for r in recommender.recommend("grumpy", k=12)}
    assert len(recommender.recommend("neutral", k=12)) == 12


def test_one_fresh_event_does_not_take_over_popular_now(hm_events, tmp_path):
    """Sales that ended years ago and one view today: the all-time best-seller, not the viewed item, leads."""
    store = tmp_path / "store"
    shutil.copytree(hm_events, store)
    recommender = DressUpRecommender(Store.open(store), EventStore.open(store), RecommenderConfig(refit_seconds=0, exploration=0))
    sales = EventStore.open(store).events()["item"].value_counts()
    rarely_sold = sales.index[-1]
    EventStore.open(store).add("someone", rarely_sold, "view")
    after = recommender.recommend("visitor", k=5)
    top = set(sales[sales >= sales.iloc[0]].index)  # the all-time best-seller(s)
    assert after[0].id != rarely_sold and after[0].id in top


def test_a_database_is_fitted_a_chunk_at_a_time_to_the_same_signals(hm_events, monkeypatch):
    """Fitting on a live database reads it in chunks (memory for a chunk, not for all events) and learns exactly
    what fitting on the whole table learns."""
    events = EventStore.open(hm_events)
    table = events.events()
    chunks = list(events.event_chunks(rows=97))
    assert len(chunks) == -(-len(table) // 97) and sum(map(len, chunks)) == len(table)
    monkeypatch.setattr(recommender_module, "FIT_CHUNK_ROWS", 97)
    from_chunks = DressUpRecommender(Store.open(hm_events), events).signals()
    whole = DressUpRecommender(Store.open(hm_events), table).signals()
    assert from_chunks.as_of == whole.as_of
    np.testing.assert_allclose(from_chunks.popularity, whole.popularity, rtol=1e-12)
    assert from_chunks.co_occurrence.nnz > 1000 and abs(from_chunks.co_occurrence - whole.co_occurrence).max() < 1e-12


def test_co_purchases_keep_each_items_strongest_partners_computed_in_blocks(hm_events, monkeypatch):
    """The co-purchase matrix, built a block of items at a time, is the cosine-normalised count of shared buyers
    (checked against the whole product); capped, each item keeps exactly its strongest partners."""
    from scipy import sparse

    from dressup.recommenders import signals

    events = EventStore.open(hm_events).events()
    store = Store.open(hm_events)
    users, rows = events["user"].astype("category").cat.codes.to_numpy(), store.rows_of(events["item"].to_numpy())
    liked = sparse.csr_matrix((np.ones(len(events)), (users, rows)), shape=(users.max() + 1, len(store)))
    liked.data[:] = 1.0  # bought at all, not how often
    together = (liked.T @ liked).toarray()
    np.fill_diagonal(together, 0)
    degree = np.sqrt(liked.sum(axis=0).A.ravel()) + 1e-12
    expected = together / degree[:, None] / degree[None, :]
    monkeypatch.setattr(signals, "BLOCK_CELLS", 7 * len(store))  # many blocks of 7 items
    assert abs(signals.co_purchases(liked, len(store)).toarray() - expected).max() < 1e-12
    capped = signals.co_purchases(liked, 3).toarray()
    partners = (expected > 0).sum(axis=1)
    assert partners.max() > 3 and ((capped > 0).sum(axis=1) == np.minimum(partners, 3)).all()
    for row in np.flatnonzero(partners > 3):
        kept = capped[row][capped[row] > 0]
        assert kept.min() >= np.sort(expected[row])[-3] - 1e-15 and np.allclose(kept, expected[row][capped[row] > 0])

def test_once_buyers_are_the_buyers_who_never_bought_an_item_on_two_days():
    times = pd.to_datetime(["2020-01-01 09:00", "2020-01-01 18:00", "2020-01-01 09:00", "2020-01-05 09:00", "2020-01-01 09:00",
                            "2020-01-05 09:00", "2020-01-01 09:00", "2020-01-05 09:00", "2020-01-03 09:00"], utc=True)
    events = pd.DataFrame({"user": ["same day", "same day", "two days", "two days", "liker", "liker", "liked, then bought",
                                    "liked, then bought", "viewer"],
                           "item": ["a", "a", "a", "a", "a", "a", "b", "b", "c"],
                           "kind": ["purchase", "purchase", "purchase", "purchase", "like", "like", "like", "purchase", "view"],
                           "value": np.nan, "timestamp": times})
    assert once_buyers(events) == {"same day", "liked, then bought"}
    assert once_buyers(events.head(0)) == set()


def test_customers_who_never_rebuy_see_fewer_of_what_they_bought_until_they_rebuy(hm_events, tmp_path):
    """What a customer who never bought an item on two days bought weighs half (they rarely rebuy), from a fixed
    table and from the live database (every bought item allowed back: ``rebuy_above=0``); what they like is never
    shown back, and buying an item again on another day gives back the full weight, at once."""
    store = tmp_path / "store"
    shutil.copytree(hm_events, store)
    events = EventStore.open(store)
    table = events.events()
    once = once_buyers(table)
    assert 0 < len(once) < table["user"].nunique()
    config = RecommenderConfig(exploration=0, refit_seconds=3600, rebuy_above=0)

    def own_items(recommender, user):
        own = set(table["item"][table["user"] == user])
        return [r.id for r in recommender.recommend(user, k=12) if r.id in own]

    def halved_and_full(source):
        return (DressUpRecommender(Store.open(store), source, config),
                DressUpRecommender(Store.open(store), source, config.with_options(once_buyer_history=1.0)))

    halved, full = halved_and_full(table)
    user = next(u for u in table["user"].value_counts().index
                if u in once and len(own_items(halved, u)) < len(own_items(full, u)))
    halved, full = halved_and_full(events)
    assert len(own_items(halved, user)) < len(own_items(full, user))
    next_day = table["timestamp"][table["user"] == user].max().to_pydatetime().replace(tzinfo=UTC) + timedelta(days=1)
    liked = next(i for i in table["item"].value_counts().index if i not in set(table["item"][table["user"] == user]))
    events.add(user, liked, "like", timestamp=next_day)
    assert all(liked not in {r.id for r in recommender.recommend(user, k=12)} for recommender in (halved, full))
    events.add(user, own_items(full, user)[0], "purchase", timestamp=next_day)  # on another day than before
    assert own_items(halved, user) == own_items(full, user)


def test_a_changed_database_is_refitted_in_the_background(hm_events, tmp_path):
    """New sales change "popular now" after a refit that runs beside the requests, which go on with the current signals."""
    store = tmp_path / "store"
    shutil.copytree(hm_events, store)
    events = EventStore.open(store)
    recommender = DressUpRecommender(Store.open(store), events, RecommenderConfig(refit_seconds=0, exploration=0))
    before = recommender.signals()
    rarely_sold = events.events()["item"].value_counts().index[-1]
    assert rarely_sold not in {r.id for r in recommender.recommend("visitor", k=5)}
    events.add_many([NewEvent(f"buyer-{n}", rarely_sold, "purchase") for n in range(60)])  # a hit today
    assert recommender.signals() is before  # a refit started, and the current signals serve meanwhile
    deadline = time.monotonic() + 60
    while recommender.signals() is before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recommender.signals() is not before
    assert recommender.recommend("visitor", k=5)[0].id == rarely_sold
    rows = recommender.store.rows_of([rarely_sold, events.events()["item"].value_counts().drop(rarely_sold).index[0]])
    assert recommender.signals().co_occurrence[rows[0], rows[1]] == 0
    events.add("buyer-0", recommender.store.ids[rows[1]], "purchase")  # now bought together with the hit
    current = recommender.signals()
    assert recommender.refit() is not current and recommender.signals().co_occurrence[rows[0], rows[1]] > 0


def test_a_user_with_a_huge_history_costs_no_more_than_anyone(hm_events, tmp_path):
    from dressup.recommenders.base import HISTORY_EVENTS

    store = tmp_path / "store"
    shutil.copytree(hm_events, store)
    ids = Store.open(store).items["id"].to_numpy()
    rng = np.random.default_rng(0)
    moments = pd.Timestamp("2020-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 200 * 86400, 100_000), "s")
    events = EventStore.open(store)
    events.add_chunks([pd.DataFrame({"user": "bot", "item": rng.choice(ids, 100_000), "kind": "view", "value": np.nan,
                                     "timestamp": moments})])
    events.add("person", ids[3], "like")
    recommender = DressUpRecommender.open(store)
    recommender.recommend("person", k=12)  # the catalog-wide fit, once

    def seconds(user):
        runs = []
        for step in range(5):
            events.add(user, ids[10 + step], "view")  # a fresh event each time: the feed is ranked afresh, not kept
            began = time.perf_counter()
            recommender.recommend(user, k=12)
            runs.append(time.perf_counter() - began)
        return float(np.median(runs))

    assert len(events.events("bot", latest=HISTORY_EVENTS)) == HISTORY_EVENTS
    assert seconds("bot") < 5 * seconds("person") + 0.05  # 100,000 events read whole took about 1 s


def test_a_feed_is_kept_until_the_users_events_change(hm_events, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(hm_events, store)
    events = EventStore.open(store)
    user = typical_user(store)
    recommender = DressUpRecommender.open(store)
    first = recommender.recommend(user, k=12)
    assert recommender.recommend(user, k=12) == first
    assert recommender._tastes.get(user, events.user_version(user), recommender.signals(), recommender.store.state)
    assert recommender.recommend(user, k=12) == DressUpRecommender.open(store).recommend(user, k=12)  # kept = made afresh

    liked = next(r.id for r in first if r.reason != "bought or liked before")  # not a rebuy, which may come back
    events.add(user, liked, "like")  # taken in at the next request: the like is not shown back
    assert liked not in {r.id for r in recommender.recommend(user, k=12)}
    afresh = recommender.with_config(recommender.config)  # the same fitted signals, nothing kept
    assert recommender.recommend(user, k=12) == afresh.recommend(user, k=12)

    events.forget(user)  # a forgotten user's kept feed goes with their events
    assert all(r.reason in ("popular now", "something new") for r in recommender.recommend(user, k=12))
