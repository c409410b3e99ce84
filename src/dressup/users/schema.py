"""The shop database's tables (SQLAlchemy ORM): users, their events, imports, and the catalog journal; Alembic migrations
in `migrations/` create them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

EVENT_KINDS = ("view", "like", "dislike", "rating", "cart", "purchase")
"""What a user can do with an item; ``rating`` carries a value 1-5, ``purchase`` may carry the price paid."""


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    token_digest: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True,
                                                     index=True)  # SHA-256 of the API token
    token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)  # UTC


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in EVENT_KINDS)})", name="event_kind"),
        CheckConstraint("kind != 'rating' OR (value >= 1 AND value <= 5)", name="rating_value"),
        Index("events_user_time", "user_id", "timestamp"),
        Index("events_user_id", "user_id", "id"),  # a user's newest event, read on every feed (migration 0006)
        {"sqlite_autoincrement": True},  # ids never reused (migration 0003), as on PostgreSQL
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(128), ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class EventImport(Base):
    """One imported file, so that importing the same file twice adds nothing the second time."""

    __tablename__ = "event_imports"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(1024))
    events: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CatalogChange(Base):
    """One acknowledged change to a store's catalog, applied by every reader on top of the store's base generation
    (see `dressup.store.journal`): an item put (added or changed, its whole record) or removed."""

    __tablename__ = "catalog_changes"
    __table_args__ = (Index("catalog_changes_store_seq", "store", "seq"), {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    store: Mapped[str] = mapped_column(String(64))  # the store's id (its manifest's store_id)
    item_id: Mapped[str] = mapped_column(String(128))
    operation: Mapped[str] = mapped_column(String(8))  # "put" or "remove"
    record: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: the item's row after the change
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float16, when the photo changed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StoreSetting(Base):
    """One named setting of a store (its business rules, its experiments), as JSON; ``version`` grows at each change,
    so that servers see a change by reading one number (migration 0007)."""

    __tablename__ = "store_settings"

    store: Mapped[str] = mapped_column(String(64), primary_key=True)  # the store's id (its manifest's store_id)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


EXPOSURE_KINDS = ("impression", "click")


class Exposure(Base):
    """An item an experiment's variant showed a user (``impression``), or one the user clicked (``click``); kept apart
    from the events, which feed the recommender (migration 0007)."""

    __tablename__ = "exposures"
    __table_args__ = (Index("exposures_experiment_user", "experiment", "user_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(128))
    item_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    surface: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
