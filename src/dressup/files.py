"""Crash-safe file writes: a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import os
from pathlib import Path


def atomic_write(target: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``target`` through a ``.tmp`` sibling, fsynced, then renamed over it."""
    target = Path(target)
    temporary = target.with_name(target.name + ".tmp")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_dir(target.parent)
    return target


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
