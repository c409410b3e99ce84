"""How long jobs (indexing, imports, training) say how far they are: one `Progress` object, passed in.

A job calls ``progress.update(step, done, total)`` as it goes, with any figures worth showing as keywords
(``loss=0.31``), and ``progress.note(text)`` for a line to keep (an epoch's summary). The base class shows
nothing; the CLI renders steps as Rich progress bars. Jobs never print.

>>> class Recorder(Progress):
...     def __init__(self):
...         self.seen = []
...     def update(self, step, done, total=None, **figures):
...         self.seen.append((step, done, total))
>>> recorder = Recorder()
>>> recorder.update("embedding", 64, 100)
>>> recorder.seen
[('embedding', 64, 100)]
"""

from __future__ import annotations


class Progress:
    """Receives a job's progress; this base class ignores it (a silent job)."""

    def update(self, step: str, done: int, total: int | None = None, **figures: float) -> None:
        """``done`` of ``total`` units of ``step`` (a short phrase: "embedding", "epoch 3/10") are finished."""

    def end(self, step: str) -> None:
        """``step`` is over; a display may take it down."""

    def note(self, message: str) -> None:
        """A line worth keeping once the job is over."""


SILENT = Progress()
