"""Auto-tagging: predict a product's labels (category, colour, ...) from its image.

>>> tagger = Tagger.load("fashion-mobilenetv2")          # doctest: +SKIP
>>> tagger.tag(["shirt.jpg"])[0]["articleType"]          # doctest: +SKIP
Tag(label='articleType', value='Shirts', confidence=0.93)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encoders import DEFAULT_TAGGER, ImageEncoder, create_encoder
from .errors import DressUpError
from .images import ImageError, ImageInput

PROBABILITIES = "probabilities."


class NoTagsError(DressUpError, ValueError):
    """The encoder has no label heads (e.g. a plain ImageNet encoder)."""


@dataclass(frozen=True)
class Tag:
    """One predicted label value and the model's confidence in it (softmax probability)."""

    label: str
    value: str
    confidence: float


class Tagger:
    """Predicts every label an encoder was trained with: ``Tagger.load(name).tag(images)``."""

    def __init__(self, encoder: ImageEncoder):
        classes = encoder.spec.extra.get("labels") or {}
        shown = encoder.spec.extra.get("tag_labels") or list(classes)  # a model may train on labels it does not tag with
        labels = [label for label in shown if label in classes and PROBABILITIES + label in encoder.output_names]
        if not labels:
            raise NoTagsError(f"encoder {encoder.name!r} predicts no labels; use a fine-tuned encoder such as {DEFAULT_TAGGER}")
        self.encoder = encoder
        self.classes = {label: list(classes[label]) for label in labels}

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_TAGGER, threads: int | None = None) -> Tagger:
        return cls(create_encoder(name_or_path, threads=threads))

    @property
    def labels(self) -> list[str]:
        return list(self.classes)

    def predict_proba(self, images: Sequence[ImageInput], batch_size: int = 64) -> dict[str, np.ndarray]:
        """Per label, an (n, classes) array of probabilities; raises `ImageError` for an unreadable image."""
        return self.predict_readable(images, batch_size, skip_unreadable=False)[0]

    def predict_readable(
        self, images: Sequence[ImageInput], batch_size: int = 64, skip_unreadable: bool = True
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Probabilities for the readable images and a mask saying which images those are."""
        outputs = [PROBABILITIES + label for label in self.labels]
        parts: dict[str, list[np.ndarray]] = {label: [] for label in self.labels}
        readable = np.ones(len(images), bool)
        for start in range(0, len(images), batch_size):
            pixels = []
            for offset, image in enumerate(images[start : start + batch_size]):
                try:
                    pixels.append(self._pixels(image))
                except ImageError:
                    if not skip_unreadable:
                        raise
                    readable[start + offset] = False
            if not pixels:
                continue
            for label, probabilities in zip(self.labels, self.encoder.run(np.stack(pixels), outputs), strict=True):
                parts[label].append(probabilities)
        merged = {label: np.concatenate(p) if p else np.zeros((0, len(self.classes[label]))) for label, p in parts.items()}
        return merged, readable

    def tag(self, images: Sequence[ImageInput], batch_size: int = 64) -> list[dict[str, Tag]]:
        """For each image, the most likely value of every label."""
        probabilities = self.predict_proba(images, batch_size)
        tags = [{} for _ in images]
        for label, p in probabilities.items():
            best = p.argmax(axis=1)
            for i, (column, confidence) in enumerate(zip(best, p[np.arange(len(p)), best], strict=True)):
                tags[i][label] = Tag(label, self.classes[label][column], round(float(confidence), 4))
        return tags

    def _pixels(self, image: ImageInput) -> np.ndarray:
        try:
            return self.encoder.preprocess(image)
        except ImageError:
            raise
        except (OSError, ValueError) as error:
            raise ImageError(f"{image}: cannot read the image ({error})") from None
