"""Crash-safe writes, and rows read from disk on demand."""

import os
import time

import numpy as np
import pytest

from dressup.files import RowFile


def test_an_atomic_write_cut_short_leaves_the_old_file(tmp_path):
    from dressup.files import atomic_path, atomic_write

    target = atomic_write(tmp_path / "recs.jsonl", '{"user": "a"}\n')
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:  # a writer that fails half-way
        temporary.write_text('{"user": "b"')
        raise RuntimeError("disk full")
    assert target.read_text() == '{"user": "a"}\n' and os.listdir(tmp_path) == ["recs.jsonl"]
    with atomic_path(target) as first, atomic_path(target) as second:  # concurrent writers get their own files
        assert first != second
        first.write_text("first\n")
        second.write_text("second\n")
    assert target.read_text() == "first\n" and os.listdir(tmp_path) == ["recs.jsonl"]
    abandoned, busy = tmp_path / ".recs.jsonl.0123456789ab.tmp", tmp_path / ".recs.jsonl.ba9876543210.tmp"
    abandoned.write_text("a writer killed yesterday")
    os.utime(abandoned, (time.time() - 86_400, time.time() - 86_400))
    busy.write_text("a writer still at work")
    atomic_write(target, "third\n")
    assert sorted(os.listdir(tmp_path)) == [busy.name, "recs.jsonl"]  # the abandoned one is cleared, the busy one kept
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # readable by a server running as another user


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_row_file_reads_scattered_repeated_and_consecutive_rows_as_the_array_holds_them(tmp_path):
    array = np.random.default_rng(0).standard_normal((1000, 16)).astype(np.float16)
    np.save(tmp_path / "rows.npy", array)
    rows = RowFile(tmp_path / "rows.npy")
    wanted = np.array([999, 3, 4, 5, 3, 0, 500])
    assert np.array_equal(rows[wanted], array[wanted]) and rows.shape == array.shape
    assert np.array_equal(np.asarray(rows), array) and rows[np.array([], int)].shape == (0, 16)
    with pytest.raises(IndexError):
        rows[[1000]]
