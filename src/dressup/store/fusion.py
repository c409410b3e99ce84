"""Fusion of several embeddings of each item into the one vector the index searches.

A store may hold, besides its main image embedding, more embeddings per item: another image
encoder (seed 002 mixed a ResNet-50 and a style CNN 70/30) or the text encoder over titles.
The index searches the concatenation of the parts, each unit-normalised and scaled by the
square root of its weight, so a dot product is the weighted sum of the parts' cosine similarities.
Weights are configuration: changing them rebuilds the index from the stored parts, without
embedding anything again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..embeddings import normalize_rows
from ..errors import DressUpError

TEXT = "text"


class FusionError(DressUpError, ValueError):
    """A malformed fusion setting."""


@dataclass(frozen=True)
class FusionPart:
    """One extra embedding: an image encoder (name or model directory) or ``text``, with its weight."""

    encoder: str
    weight: float

    @property
    def kind(self) -> str:
        return "text" if self.encoder in (TEXT, "minilm-l6-v2") else "image"


def parse_fusion(settings: list[str] | None) -> list[FusionPart]:
    """``["text=0.3"]`` -> parts; the main image embedding gets what is left of a total weight of 1."""
    parts = []
    for setting in settings or []:
        encoder, sep, weight = setting.rpartition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not encoder or not 0 < value < 1:
            raise FusionError(f"bad fusion setting {setting!r}: use ENCODER=WEIGHT with 0 < WEIGHT < 1, e.g. text=0.3")
        parts.append(FusionPart(encoder.strip(), value))
    if sum(p.weight for p in parts) >= 1:
        raise FusionError("fusion weights must sum to less than 1: the rest weighs the main image embedding")
    if len({p.encoder for p in parts}) != len(parts):
        raise FusionError("each fused encoder may appear once")
    return parts


def fuse(parts: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Concatenate unit-normalised parts scaled by sqrt(weight)."""
    scaled = [normalize_rows(np.asarray(p, np.float32)) * np.sqrt(w) for p, w in zip(parts, weights, strict=True)]
    return np.concatenate(scaled, axis=1).astype(np.float32)
