"""Every registered recommender (`dressup.recommenders.RECOMMENDERS`) keeps the `Recommender` contract, on real H&M
purchases, read from the database and from a table."""


import pytest

from dressup import Filters, Store
from dressup.recommenders import RECOMMENDERS, Recommendation, RecommendError, create_recommender
from dressup.users import EventStore, EventTable


@pytest.fixture(scope="module", params=[(name, source) for name in RECOMMENDERS for source in ("database", "table")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def recommender(request, hm_events):
    name, source = request.param
    store, events = Store.open(hm_events), EventStore.open(hm_events)
    if source == "table":
        events = EventTable(events.events())
    return create_recommender(name, store, events)


def buyers(recommender, count=3) -> list[str]:
    return recommender.events.events()["user"].value_counts().index[:count].tolist()


def test_a_feed_is_k_distinct_items_of_the_store(recommender):
    for user in buyers(recommender):
        feed = recommender.recommend(user, k=12)
        assert len(feed) == 12 and len({r.id for r in feed}) == 12
        assert all(isinstance(r, Recommendation) and r.id in recommender.store and r.reason for r in feed)


def test_a_user_without_events_gets_a_full_feed(recommender):
    assert len(recommender.recommend("nobody-ever-seen", k=10)) == 10


def test_filters_are_exact(recommender):
    store = recommender.store
    category = store.items["category"].value_counts().index[2]
    cheap = float(store.items["price"].median())
    for user in [*buyers(recommender, 2), "nobody-ever-seen"]:
        feed = recommender.recommend(user, k=8, filters=Filters(where={"category": category}, max_price=cheap))
        assert feed and all(store.item(r.id).category == category and store.item(r.id).price <= cheap for r in feed)


def test_the_same_question_gets_the_same_answer(recommender):
    user = buyers(recommender, 1)[0]
    assert recommender.recommend(user, k=12) == recommender.recommend(user, k=12)
    assert recommender.recommend_many([user, "nobody-ever-seen"], k=6) == [recommender.recommend(user, k=6),
                                                                             recommender.recommend("nobody-ever-seen", k=6)]


def test_liked_items_are_never_shown_back(recommender):
    liked = recommender.store.items["id"].iloc[:3].tolist()
    feed = recommender.recommend_from_items(liked, k=12)
    assert len(feed) == 12 and not {r.id for r in feed} & set(liked)


def test_bad_questions_are_recommend_errors(recommender):
    for bad in (lambda: recommender.recommend_from_items([], k=5), lambda: recommender.recommend_from_items(["no-such-item"]),
                lambda: recommender.recommend("anyone", k=0)):
        with pytest.raises(RecommendError):
            bad()
