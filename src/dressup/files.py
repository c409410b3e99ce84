"""Files: crash-safe writes (a reader sees the old content or the new, never half of it) and memory-mapped reads."""

from __future__ import annotations

import errno
import glob
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import DressUpError


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


class DiskFullError(DressUpError, OSError):
    """A write that found no space left (or its quota spent): nothing was changed."""


#: What the kernel says when a disk or a quota is full, and what FAISS and SQLite print for it.
_FULL = (errno.ENOSPC, errno.EDQUOT)
_FULL_TEXT = ("No space left on device", "database or disk is full", "Disk quota exceeded",
              " requested and ")  # NumPy's "N requested and M written": a short write


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` (an OSError, FAISS's RuntimeError, a database error) says the disk is full."""
    return getattr(error, "errno", None) in _FULL or any(text in str(error) for text in _FULL_TEXT)


@contextmanager
def disk_space(what: str, where: str | Path) -> Iterator[None]:
    """Turn a full disk while doing ``what`` in ``where`` into one `DiskFullError` (the block cleans up after itself)."""
    try:
        yield
    except DressUpError:
        raise
    except Exception as error:
        if is_disk_full(error):
            raise DiskFullError(f"no space left on the disk of {where} while {what}: nothing was changed; free some "
                                "space and try again") from None
        raise


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



class RowFile:
    """The rows of a 2-D ``.npy`` file, read on demand with ``pread``: a few thousand scattered rows cost those rows,
    and neither a memory map (whose page faults map the neighbouring pages, a server's resident memory growing to the
    whole file) nor a copy in memory. Index it like an array: ``vectors[rows]``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with open(self.path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            self.shape, fortran, self.dtype = header(handle)
            self._offset = handle.tell()
        if fortran or len(self.shape) != 2:
            raise ValueError(f"{self.path}: not a 2-D row-major array")
        self._row_bytes = self.shape[1] * self.dtype.itemsize
        self._descriptor = os.open(self.path, os.O_RDONLY)

    def __del__(self):
        descriptor = getattr(self, "_descriptor", None)
        if descriptor is not None:
            os.close(descriptor)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows) -> np.ndarray:
        rows = np.arange(self.shape[0])[rows] if isinstance(rows, slice) else np.atleast_1d(np.asarray(rows, np.int64))
        out = np.empty((len(rows), self.shape[1]), self.dtype)
        if not len(rows):
            return out
        if rows.min() < 0 or rows.max() >= self.shape[0]:
            raise IndexError(f"rows outside 0..{self.shape[0] - 1}")
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1  # runs of consecutive rows: one read each
        for run in np.split(np.arange(len(rows)), breaks):
            first, count = int(ordered[run[0]]), len(run)
            data = os.pread(self._descriptor, count * self._row_bytes, self._offset + first * self._row_bytes)
            out[order[run]] = np.frombuffer(data, self.dtype).reshape(count, self.shape[1])
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = np.fromfile(self.path, self.dtype, offset=self._offset).reshape(self.shape)
        return whole if dtype is None else whole.astype(dtype)
