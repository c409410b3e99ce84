"""`Encoder`: what every encoder does, for photos or for text."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pandas as pd


class Encoder(ABC):
    """Turns inputs into embeddings: ``encode(inputs) -> (n, dimension)`` float32, rows of length 1.

    ``kind`` says what it reads: ``"image"`` (paths, bytes or PIL images) or ``"text"``. ``item_inputs`` is what it
    reads of each catalog item, and ``item_keys`` identifies that input, so that a store re-embeds only items whose
    key changed. ``fingerprint`` identifies weights and preprocessing: vectors are reused only under the same one.
    """

    kind: ClassVar[str]

    @property
    @abstractmethod
    def name(self) -> str: ...

    @property
    @abstractmethod
    def dimension(self) -> int: ...

    @property
    @abstractmethod
    def fingerprint(self) -> str: ...

    @abstractmethod
    def encode(self, inputs: Sequence, batch_size: int = 64, normalize: bool = True) -> np.ndarray:
        """One row per input; an unreadable input is an error (a `DressUpError`)."""

    @abstractmethod
    def item_inputs(self, items: pd.DataFrame) -> list:
        """What the encoder reads of each row of an item table."""

    @abstractmethod
    def item_keys(self, items: pd.DataFrame) -> list[tuple]:
        """(item id, identity of its input) per row: an unchanged key means an unchanged vector."""
