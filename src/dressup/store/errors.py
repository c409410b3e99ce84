"""What goes wrong with a store, as errors the CLI prints in one line and the API answers with a status."""

from __future__ import annotations

from ..errors import DressUpError


class StoreError(DressUpError, ValueError):
    """A store that does not exist or cannot be opened."""


class StoreBusyError(StoreError):
    """Another process holds the store's writer lock."""


class DamagedStoreError(StoreError):
    """A store file that is missing, cut short, of the wrong kind or inconsistent with the others."""
