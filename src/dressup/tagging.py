"""Auto-tagging: predict a product's labels (category, colour, ...) from its image.

>>> tagger = Tagger.load("fashion-mobilenetv2")          # doctest: +SKIP
>>> tagger.tag(["shirt.jpg"])[0]["articleType"]          # doctest: +SKIP
Tag(label='articleType', value='Shirts', confidence=0.93)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encoders import DEFAULT_TAGGER, ImageEncoder, create_encoder
from .errors import DressUpError
from .images import ImageError, ImageInput

PROBABILITIES = "probabilities."
COLOUR_STAGE_FILE = "colour-stage.npz"
HUE_BINS = 12
WHITE = 0.92  # a pixel whose channels are all above this is background, not product


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

    def __init__(self, encoder: ImageEncoder, use_colour_stage: bool = True):
        classes = encoder.spec.extra.get("labels") or {}
        shown = encoder.spec.extra.get("tag_labels") or list(classes)  # a model may train on labels it does not tag with
        labels = [label for label in shown if label in classes and PROBABILITIES + label in encoder.output_names]
        if not labels:
            raise NoTagsError(f"encoder {encoder.name!r} predicts no labels; use a fine-tuned encoder such as {DEFAULT_TAGGER}")
        self.encoder = encoder
        self.classes = {label: list(classes[label]) for label in labels}
        self.colour_stage = ColourStage.beside(encoder) if use_colour_stage else None
        if self.colour_stage is not None and self.colour_stage.label not in self.classes:
            self.colour_stage = None  # a label the model does not tag with
        if self.colour_stage is not None and self.colour_stage.classes != self.classes[self.colour_stage.label]:
            raise DressUpError(f"the colour stage of {encoder.name!r} does not match its {self.colour_stage.label} head; fit it again")

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
        if self.colour_stage is not None:
            outputs.append("embedding")
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
            batch = np.stack(pixels)
            results = dict(zip(outputs, self.encoder.run(batch, outputs), strict=True))
            if self.colour_stage is not None:
                label = PROBABILITIES + self.colour_stage.label
                results[label] = self.colour_stage.predict_proba(results["embedding"], results[label], batch)
            for label in self.labels:
                parts[label].append(results[PROBABILITIES + label])
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


def colour_histogram(pixels: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) uint8 photos -> (n, HUE_BINS * 16 + 64): for the non-white pixels of each, the square
    root of their share in hue x saturation x value bins and in a 4 x 4 x 4 RGB cube."""
    rgb = pixels[:, ::3, ::3].reshape(len(pixels), -1, 3).astype(np.float32) / 255.0
    high, low = rgb.max(axis=2), rgb.min(axis=2)
    spread = high - low
    safe = np.where(spread > 0, spread, 1.0)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hue = np.where(high == red, (green - blue) / safe % 6, np.where(high == green, (blue - red) / safe + 2, (red - green) / safe + 4)) / 6
    saturation = np.where(high > 0, spread / np.where(high > 0, high, 1.0), 0.0)
    hsv_bin = (_bins(hue * (spread > 0), HUE_BINS) * 4 + _bins(saturation, 4)) * 4 + _bins(high, 4)
    cube = _bins(rgb, 4)
    rgb_bin = (cube[..., 0] * 4 + cube[..., 1]) * 4 + cube[..., 2]
    out = np.zeros((len(pixels), HUE_BINS * 16 + 64), np.float32)
    for i in range(len(pixels)):
        product = low[i] < WHITE
        if product.sum() < 20:  # an all-white photo: use every pixel
            product[:] = True
        counts = np.concatenate([np.bincount(hsv_bin[i, product], minlength=HUE_BINS * 16), np.bincount(rgb_bin[i, product], minlength=64)])
        out[i] = np.sqrt(counts / product.sum())
    return out


def _bins(values: np.ndarray, count: int) -> np.ndarray:
    return np.minimum((values * count).astype(np.int64), count - 1)


@dataclass
class ColourStage:
    """A second look at one colour label: a logistic regression over the label head's log-probabilities,
    the embedding and the photo's `colour_histogram`, fitted by `dressup train colour`. The embedding
    is trained to tell a shirt from a T-shirt; the histogram sees the pixels' colours directly."""

    label: str
    classes: list[str]
    mean: np.ndarray       # feature standardisation
    scale: np.ndarray
    coef: np.ndarray       # (features, classes)
    intercept: np.ndarray  # (classes,)

    @staticmethod
    def features(embedding: np.ndarray, probabilities: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """What the stage reads: the embedding, the head's log-probabilities and the colour histogram."""
        return np.hstack([embedding, np.log(probabilities + 1e-6), colour_histogram(pixels)]).astype(np.float32)

    def predict_proba(self, embedding: np.ndarray, probabilities: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        logits = ((self.features(embedding, probabilities, pixels) - self.mean) / self.scale) @ self.coef + self.intercept
        logits = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (logits / logits.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(self, path: str | Path) -> Path:
        """Write atomically: a crash leaves the previous file (or none), never half of one."""
        path = Path(path)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".partial.npz")
        os.close(handle)
        try:
            np.savez(temporary, label=self.label, classes=np.array(self.classes), mean=self.mean, scale=self.scale,
                     coef=self.coef, intercept=self.intercept)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ColourStage:
        with np.load(path, allow_pickle=False) as data:
            return cls(str(data["label"]), data["classes"].tolist(), data["mean"], data["scale"], data["coef"], data["intercept"])

    @classmethod
    def beside(cls, encoder: ImageEncoder) -> ColourStage | None:
        """The stage saved in the encoder's model directory, if it has one."""
        if encoder.directory is None or not (encoder.directory / COLOUR_STAGE_FILE).is_file():
            return None
        return cls.load(encoder.directory / COLOUR_STAGE_FILE)
