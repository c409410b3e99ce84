"""Crash-safe writes."""

import os
import time

import pytest


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
