"""Every event source, the databases (SQLite, PostgreSQL) and the in-memory table, keeps the `EventSource` contract."""

from datetime import datetime

import pandas as pd
import pytest

from dressup.users import EVENT_COLUMNS, EventStore, EventTable, NewEvent

EVENTS = [NewEvent("ann", "1", "like", datetime(2024, 5, 1)), NewEvent("bob", "2", "purchase", datetime(2024, 5, 3), 9.5),
          NewEvent("ann", "3", "rating", datetime(2024, 5, 2), 4), NewEvent("ann", "2", "view", datetime(2024, 5, 4)),
          NewEvent("cy", "1", "dislike", datetime(2024, 4, 30))]


@pytest.fixture(params=["table", "sqlite", "postgresql"])
def source(request, tmp_path):
    if request.param == "postgresql":
        import sqlalchemy as sa

        url = request.getfixturevalue("postgres_url")
        with sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://")).begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    else:
        url = f"sqlite:///{tmp_path / 'users.sqlite'}"
    database = EventStore.open(url=url)
    database.add_many(EVENTS)
    if request.param == "table":
        yield EventTable(database.events())
    else:
        yield database
    database.close()


def test_a_users_events_are_theirs_oldest_first(source):
    ann = source.events("ann")
    assert list(ann.columns) == list(EVENT_COLUMNS)
    assert ann["item"].tolist() == ["1", "3", "2"] and set(ann["user"]) == {"ann"}
    assert ann["value"].tolist()[1] == 4 and ann["timestamp"].is_monotonic_increasing
    assert source.events("nobody").empty and len(source.events()) == len(EVENTS)


def test_only_the_latest_events_of_a_user_are_read_when_asked(source):
    newest = source.events("ann", latest=2)
    assert newest["item"].tolist() == ["3", "2"] and newest["timestamp"].is_monotonic_increasing
    assert len(source.events("ann", latest=10)) == 3 and source.events(latest=1)["item"].tolist() == ["2"]


def test_chunks_hold_every_event_once(source):
    chunks = list(source.event_chunks(rows=2))
    assert all(len(chunk) <= 2 for chunk in chunks)
    together = pd.concat(chunks)
    assert sorted(zip(together["user"], together["item"], together["kind"])) == sorted((e.user, e.item, e.kind) for e in EVENTS)


def test_the_latest_event_and_who_has_events(source):
    latest = pd.Timestamp(source.latest())
    assert (latest.tz_convert(None) if latest.tzinfo else latest) == pd.Timestamp("2024-05-04")
    assert source.with_events(["ann", "nobody", "cy"]) == {"ann", "cy"}


def test_what_changes_when_the_events_change(source):
    before = source.last_change()
    assert source.last_change() == before
    if isinstance(source, EventStore):
        source.add("dee", "4", "cart")
        assert source.last_change() != before


def test_an_empty_source_has_no_latest_event(tmp_path):
    for empty in (EventStore.open(url=f"sqlite:///{tmp_path / 'empty.sqlite'}"), EventTable(pd.DataFrame(columns=EVENT_COLUMNS))):
        assert empty.latest() is None and empty.events().empty and list(empty.event_chunks()) == []
