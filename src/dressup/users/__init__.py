"""Users and their events: storage (SQLAlchemy, SQLite or PostgreSQL) and import of event tables."""

from .database import (
           DATABASE_FILE,
           URL_VARIABLE,
           DatabaseError,
           EventError,
           EventStore,
           NewEvent,
           UnknownUserError,
           UserExistsError,
)
from .importing import ImportReport, import_events, read_events
from .schema import EVENT_KINDS

__all__ = ["DATABASE_FILE", "EVENT_KINDS", "URL_VARIABLE", "DatabaseError", "EventError", "EventStore", "ImportReport", "NewEvent",
           "UnknownUserError", "UserExistsError", "import_events", "read_events"]
