"""Run a benchmark step in a child process, so that its peak memory (from the kernel) is its own."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time


def run_python(*arguments: str, env: dict | None = None) -> tuple[str, float, float]:
    """``python ARGUMENTS`` in a child process: its output (stdout and stderr), wall seconds and peak resident memory
    in MiB; a `SystemExit` with its output if it fails."""
    began = time.perf_counter()
    with tempfile.TemporaryFile("w+") as output:
        child = subprocess.Popen([sys.executable, *arguments], stdout=output, stderr=subprocess.STDOUT, text=True,
                                 env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - began
        output.seek(0)
        text = output.read()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(text)
    return text, seconds, usage.ru_maxrss / 1024
