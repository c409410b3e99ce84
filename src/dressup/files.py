"""Crash-safe file writes: a reader sees the old content or the new, never half of it."""

from __future__ import annotations

import glob
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A fresh temporary path beside ``target`` to write by any means (``open``, ``np.savez``, ``torch.save``).

    When the block ends without an error the file is fsynced and renamed over ``target``; otherwise it is
    removed and ``target`` is left as it was. Each call gets its own name, so concurrent writers never collide;
    a successful write also clears the temporary files that killed writers left (untouched for an hour).
    """
    target = Path(target)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")  # created by the writer, with its usual mode
    try:
        yield temporary
        _fsync_file(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_dir(target.parent)
    _remove_abandoned(target)


def _remove_abandoned(target: Path, idle_seconds: float = 3600.0) -> None:
    """Delete ``target``'s temporary siblings that no write has touched for ``idle_seconds`` (a writer was killed)."""
    now = time.time()
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        try:
            if now - leftover.stat().st_mtime > idle_seconds:
                leftover.unlink()
        except FileNotFoundError:  # another writer finished or cleaned it first
            pass


def atomic_write(target: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``target`` through a temporary sibling, fsynced, then renamed over it."""
    with atomic_path(target) as temporary:
        temporary.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(target)


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    _fsync_file(directory)


def _fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
