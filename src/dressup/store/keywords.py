"""The keyword index of a store: BM25 (``bm25s``) over each item's text, its fields and text attributes.

Words are folded to lower-case ASCII, English stop words dropped and the rest stemmed (PyStemmer's Snowball), so
"Dresses" finds "Dress". `dressup index` writes it into the generation (``keywords/``); a catalog edit makes the
live state score its changed rows' new texts (`LiveState.keywords`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..encoders.text_tower import words

FOLDER = "keywords"


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer
    from bm25s.stopwords import STOPWORDS_EN

    return Stemmer.Stemmer("english"), frozenset(STOPWORDS_EN)


def terms(text: str) -> list[str]:
    """The searched terms of ``text``.

    >>> terms("The black Dresses, 2 of them")
    ['black', 'dress', '2', 'them']
    """
    stemmer, stop = _stemmer()
    return stemmer.stemWords([w for w in words(text) if w not in stop])


class KeywordIndex:
    """``KeywordIndex.build(texts).scores("black trousers") -> (rows,)`` BM25 scores, 0 where no term matches."""

    def __init__(self, retriever, rows: int):
        self._retriever = retriever
        self.rows = rows

    @classmethod
    def build(cls, texts: Sequence[str]) -> KeywordIndex:
        import bm25s

        retriever = bm25s.BM25()
        tokens = [terms(text) or ["_"] for text in texts]  # bm25s needs a term in every document
        if tokens:
            retriever.index(tokens, show_progress=False)
        return cls(retriever, len(tokens))

    @classmethod
    def load(cls, folder: Path, rows: int) -> KeywordIndex:
        import bm25s

        retriever = bm25s.BM25.load(str(folder), show_progress=False)
        return cls(retriever, rows)

    def save(self, folder: Path) -> Path:
        self._retriever.save(str(folder), show_progress=False)
        return folder

    def __len__(self) -> int:
        return self.rows

    def scores(self, query: str) -> np.ndarray:
        """Each row's BM25 score for ``query`` (all zero for a query without a known term)."""
        found = [t for t in terms(query) if t in self._vocabulary]
        if not found or not self.rows:
            return np.zeros(self.rows, np.float32)
        return np.asarray(self._retriever.get_scores(found), np.float32)

    @property
    def _vocabulary(self) -> dict:
        return self._retriever.vocab_dict
