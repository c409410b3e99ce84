"""The text tower: shoppers' words embedded into the fashion image encoder's search space, LiT-style.

The image tower is locked; this small model was trained (`dressup.training.text_tower`) so that a product's text
lands near its photo's searched vector. A query such as "black wide-leg trousers" then searches a store's image
vectors directly. It reads words and their character n-grams (so "trouser", "trousers" and "trousrs" share most
features), averages their learned vectors and maps the mean through a two-layer network. It runs in NumPy: no torch,
no download, well under a millisecond per query.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DressUpError
from .base import Encoder

TOWER_FILE = "tower.json"
WEIGHTS_FILE = "tower.npz"
WORD = re.compile(r"[a-z0-9]+")
MAX_QUERY_CHARACTERS = 2_000  # a longer text is cut: a product description fits, a pasted page does not matter


class TextTowerError(DressUpError, ValueError):
    """A text tower that cannot be loaded or does not fit the store it should search."""


def words(text: str) -> list[str]:
    """Lower-case ASCII words of ``text`` (accents folded: "Beige clair" and "béige" agree).

    >>> words("Black WIDE-leg trousers, size 38")
    ['black', 'wide', 'leg', 'trousers', 'size', '38']
    """
    folded = unicodedata.normalize("NFKD", str(text)[:MAX_QUERY_CHARACTERS]).encode("ascii", "ignore").decode()
    return WORD.findall(folded.lower())


@dataclass(frozen=True)
class TextFeatures:
    """How text becomes feature ids: a word vocabulary, then hashed character n-grams of every word."""

    vocabulary: tuple[str, ...]
    buckets: int = 16_384
    ngrams: tuple[int, int] = (3, 5)

    @property
    def size(self) -> int:
        return len(self.vocabulary) + self.buckets

    def ids(self, text: str) -> list[int]:
        """Feature ids of ``text``: each known word, and each n-gram of every word (known or not)."""
        known = self._index
        found = []
        for word in words(text):
            if word in known:
                found.append(known[word])
            marked = f"<{word}>"
            for n in range(self.ngrams[0], self.ngrams[1] + 1):
                found.extend(len(self.vocabulary) + zlib.crc32(marked[i : i + n].encode()) % self.buckets
                             for i in range(len(marked) - n + 1))
        return found

    @property
    def _index(self) -> dict[str, int]:
        index = self.__dict__.get("_word_index")
        if index is None:
            index = {word: i for i, word in enumerate(self.vocabulary)}
            object.__setattr__(self, "_word_index", index)
        return index


class TextTower(Encoder):
    """``TextTower.load(folder).encode(["black trousers"]) -> (1, dimension)`` unit vectors in the image space of
    ``image_encoder`` (its fingerprint: ``image_fingerprint``)."""

    kind = "text"

    def __init__(self, meta: dict, weights: dict[str, np.ndarray], directory: Path | None = None):
        self.meta = meta
        self.features = TextFeatures(tuple(meta["vocabulary"]), int(meta["buckets"]), tuple(meta["ngrams"]))
        self.table = np.asarray(weights["embeddings"], np.float32)
        self.layers = [(np.asarray(weights[f"w{i}"], np.float32), np.asarray(weights[f"b{i}"], np.float32))
                       for i in range(1, int(meta["layers"]) + 1)]
        self.directory = directory
        if self.table.shape[0] != self.features.size or self.layers[-1][0].shape[1] != self.dimension:
            raise TextTowerError(f"text tower {meta.get('name')!r}: weights do not fit its description")

    @classmethod
    def load(cls, folder: str | Path) -> TextTower:
        folder = Path(folder)
        try:
            meta = json.loads((folder / TOWER_FILE).read_text())
            with np.load(folder / WEIGHTS_FILE) as weights:
                return cls(meta, dict(weights), folder)
        except (OSError, ValueError, KeyError) as error:
            raise TextTowerError(f"cannot load the text tower in {folder}: {error}") from None

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"embeddings": self.table.astype(np.float16)}
        for i, (weight, bias) in enumerate(self.layers, start=1):
            arrays[f"w{i}"], arrays[f"b{i}"] = weight, bias
        np.savez_compressed(folder / WEIGHTS_FILE, **arrays)
        (folder / TOWER_FILE).write_text(json.dumps(self.meta, indent=1) + "\n")
        return folder

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def dimension(self) -> int:
        return int(self.meta["dimension"])

    @property
    def image_encoder(self) -> str:
        return self.meta["image_encoder"]

    @property
    def image_fingerprint(self) -> str:
        return self.meta["image_fingerprint"]

    def fits(self, encoder) -> bool:
        """Whether this tower was trained against ``encoder``'s searched vectors."""
        return self.image_fingerprint == encoder.fingerprint

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.table.tobytes())
        for weight, bias in self.layers:
            digest.update(weight.tobytes() + bias.tobytes())
        return digest.hexdigest()[:16]

    def encode(self, texts: Sequence[str], batch_size: int = 256, normalize: bool = True) -> np.ndarray:
        """One row per text; a text without a single letter or digit gives a zero row."""
        pooled = np.zeros((len(texts), self.table.shape[1]), np.float32)
        for row, text in enumerate(texts):
            ids = self.features.ids(text)
            if ids:
                pooled[row] = self.table[ids].mean(axis=0)
        vectors = pooled
        for i, (weight, bias) in enumerate(self.layers):
            vectors = vectors @ weight + bias
            if i < len(self.layers) - 1:
                vectors = np.maximum(vectors, 0.0)
        empty = ~pooled.any(axis=1)
        vectors[empty] = 0.0
        if normalize:
            lengths = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = np.divide(vectors, lengths, out=np.zeros_like(vectors), where=lengths > 0)
        return vectors.astype(np.float32)

    def item_inputs(self, items: pd.DataFrame) -> list:
        return item_descriptions(items)

    def item_keys(self, items: pd.DataFrame) -> list[tuple]:
        return list(zip(items["id"], item_descriptions(items), strict=True))


# the item fields a product's text is made of, then its text attributes (layouts keep the source's columns)
TEXT_FIELDS = ("title", "category", "subcategory", "colour", "gender", "brand")
NOT_TEXT = re.compile(r"(^|_)(id|no|code|codes|filename|file|image|path|url|hash|sku)$|^cod_|^article_id$")


def text_attributes(items: pd.DataFrame) -> list[str]:
    """The ``attr:`` columns that hold words: not ids, codes, numbers or file names."""
    found = []
    for column in items.columns:
        if not column.startswith("attr:") or NOT_TEXT.search(column[5:].lower()):
            continue
        values = items[column].dropna().astype(str).str.strip()
        values = values[values != ""].head(500)
        if len(values) and values.str.contains(r"[A-Za-z]{2}").mean() > 0.5:
            found.append(column)
    return found


def item_descriptions(items: pd.DataFrame, columns: Sequence[str] | None = None) -> list[str]:
    """Each item's text: its fields, then its text attributes, with repeated phrases said once."""
    columns = [c for c in TEXT_FIELDS if c in items.columns] + list(columns if columns is not None
                                                                     else text_attributes(items))
    texts = []
    for values in zip(*(items[c].tolist() for c in columns), strict=True):
        parts, seen = [], set()
        for value in values:
            text = str(value).strip() if isinstance(value, str) else ""
            if text and text.lower() not in seen:
                seen.add(text.lower())
                parts.append(text)
        texts.append(". ".join(parts))
    return texts
