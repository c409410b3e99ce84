"""Users and their events: storage (SQLAlchemy, SQLite or PostgreSQL) and import of event tables."""

from .database import (
           DATABASE_FILE,
           DatabaseError,
           EventError,
           EventStore,
           NewEvent,
           UnknownUserError,
           UserExistsError,
)
from .events import EVENT_COLUMNS, EventSource, EventTable
from .importing import ImportReport, import_events, read_events
from .schema import EVENT_KINDS

__all__ = ["DATABASE_FILE", "EVENT_COLUMNS", "EVENT_KINDS", "EventSource", "EventTable", "DatabaseError", "EventError",
           "EventStore", "ImportReport", "NewEvent",
           "UnknownUserError", "UserExistsError", "import_events", "read_events"]
