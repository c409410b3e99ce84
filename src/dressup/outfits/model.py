"""The outfit compatibility model at serving time: NumPy only.

Each item gets a compatibility vector ``h = normalize(MLP(content) + memory)``: the MLP reads the
item's image embedding and attributes (so a new arrival is judged from how it looks and what it
is), and items that stylists have used also carry a learned ``memory`` vector of what they were
combined with. Two items are compatible when their vectors align; an outfit's score is the mean
over its pairs.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..embeddings import normalize_rows, principal_components
from ..errors import DressUpError
from ..store import LiveState, Store

MODEL_DIR = "outfits"
ITEM_FEATURES = ["category", "subcategory", "colour", "gender"]  # besides the columns the catalog layout names


class NoOutfitModelError(DressUpError, FileNotFoundError):
    """The store has no trained outfit model yet."""


@dataclass
class ItemFeatures:
    """How items become model input: a PCA of the image embedding (fitted once, kept with the
    model, so re-indexing never shifts it) + one-hot attributes."""

    columns: list[str]
    vocabularies: dict[str, list[str]] = field(default_factory=dict)
    mean: np.ndarray | None = None
    components: np.ndarray | None = None  # (dimension, embedding dimension)

    @classmethod
    def fit(cls, store: Store, dimension: int = 128, max_values: int = 200) -> ItemFeatures:
        """Features of a store's items: its layout's ``outfit_features`` columns and the main item fields."""
        items = store.items
        wanted = [*store.layout.role_columns("outfit_features"), *ITEM_FEATURES]
        columns = [c for c in wanted if c in items.columns and items[c].notna().any()]
        vocabularies = {}
        for column in columns:
            counts = items[column].dropna().astype(str).value_counts()
            vocabularies[column] = counts.index[:max_values].tolist()
        mean, components = principal_components(normalize_rows(np.asarray(store.embeddings(), np.float32)), dimension)
        return cls(columns, vocabularies, mean, components)

    def image_part(self, embeddings: np.ndarray) -> np.ndarray:
        reduced = (normalize_rows(np.asarray(embeddings, np.float32)) - self.mean) @ self.components.T
        return normalize_rows(reduced)

    @property
    def attribute_width(self) -> int:
        return sum(len(v) for v in self.vocabularies.values())

    def attributes(self, items: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(items), self.attribute_width), np.float32)
        offset = 0
        for column in self.columns:
            vocabulary = self.vocabularies[column]
            lookup = {value: i for i, value in enumerate(vocabulary)}
            if column in items.columns:
                codes = items[column].astype(object).map(lambda v,
                                                         lookup=lookup: lookup.get(str(v), -1) if pd.notna(v) else -1).to_numpy()
                rows = np.flatnonzero(codes >= 0)
                out[rows, offset + codes[rows].astype(np.int64)] = 1.0
            offset += len(vocabulary)
        return out

    def matrix(self, embeddings: np.ndarray, items: pd.DataFrame | None) -> np.ndarray:
        """Model input rows; ``items=None`` for photos, whose attributes are unknown."""
        attributes = self.attributes(items) if items is not None else np.zeros((len(embeddings), self.attribute_width),
                                                                               np.float32)
        return np.concatenate([self.image_part(embeddings), attributes], axis=1).astype(np.float32)


class CompatibilityModel:
    """``vectors(rows)`` -> unit compatibility vectors; ``pair``, ``outfit_score`` and ``fill_scores`` on top."""

    def __init__(self, weights: dict[str, np.ndarray], features: ItemFeatures, memory_ids: list[str], info: dict):
        self.weights = weights
        self.features = features
        self.memory_ids = memory_ids
        self.info = info

    # -- computing vectors ---------------------------------------------------------------
    def content_vectors(self, x: np.ndarray) -> np.ndarray:
        w = self.weights
        hidden = np.maximum(x @ w["w1"] + w["b1"], 0.0)
        return hidden @ w["w2"] + w["b2"]

    def item_vectors(self, state: LiveState) -> np.ndarray:
        """Compatibility vector of every row of a store's state (memory added for items seen in training outfits)."""
        x = self.features.matrix(state.embeddings(), state.items)
        raw = self.content_vectors(x)
        memory = self.weights["memory"]
        rows = state.rows_of(self.memory_ids)
        known = rows >= 0
        raw[rows[known]] += memory[known]
        return normalize_rows(raw).astype(np.float32)

    def image_vectors(self, embeddings: np.ndarray) -> np.ndarray:
        """Vectors for photos: image embedding only (their attributes are unknown)."""
        x = self.features.matrix(embeddings, None)
        return normalize_rows(self.content_vectors(x)).astype(np.float32)

    # -- saving --------------------------------------------------------------------------
    def save(self, store_path: Path) -> Path:
        """Write ``STORE/outfits/`` atomically (a new folder renamed over the old one)."""
        target = Path(store_path) / MODEL_DIR
        staging = target.with_name(MODEL_DIR + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        np.savez(staging / "weights.npz", **self.weights, features_mean=self.features.mean,
                 features_components=self.features.components)
        meta = {"features": {"columns": self.features.columns, "vocabularies": self.features.vocabularies},
                "memory_ids": self.memory_ids, **self.info}
        (staging / "model.json").write_text(json.dumps(meta, indent=1, default=str))
        old = target.with_name(MODEL_DIR + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
        return target

    @classmethod
    def load(cls, store_path: Path) -> CompatibilityModel:
        target = Path(store_path) / MODEL_DIR
        if not (target / "model.json").is_file():
            old = target.with_name(MODEL_DIR + ".old")  # a crash between the two renames of `save`
            if (old / "model.json").is_file():
                target = old
            else:
                raise NoOutfitModelError(f"{store_path}: no outfit model; train one with `dressup outfits train --store "
                                         f"{store_path} --outfits FILE`")
        meta = json.loads((target / "model.json").read_text())
        with np.load(target / "weights.npz") as data:
            weights = {k: data[k] for k in data.files}
        described = meta.pop("features")
        features = ItemFeatures(
            described["columns"], described["vocabularies"], weights.pop("features_mean"), weights.pop("features_components")
        )
        memory_ids = meta.pop("memory_ids")
        return cls(weights, features, memory_ids, meta)


def outfit_score(vectors: np.ndarray) -> float:
    """Mean cosine over all pairs of an outfit's compatibility vectors."""
    n = len(vectors)
    if n < 2:
        return 0.0
    gram = vectors @ vectors.T
    return float((gram.sum() - np.trace(gram)) / (n * (n - 1)))
