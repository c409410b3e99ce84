"""Auto-tagging: predict a product's labels (category, colour, ...) from its image.

>>> tagger = Tagger.load("fashion-mobilenetv2")          # doctest: +SKIP
>>> tagger.tag(["shirt.jpg"])[0]["articleType"]          # doctest: +SKIP
Tag(label='articleType', value='Shirts', confidence=0.93)
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .encoders import DEFAULT_TAGGER, ImageEncoder, TextTower, create_encoder, load_text_tower
from .errors import DressUpError
from .files import atomic_write
from .images import ImageError, ImageInput

PROBABILITIES = "probabilities."
COLOUR_STAGE_FILE = "colour-stage.npz"
HUE_BINS = 12
HISTOGRAM_SIZE = HUE_BINS * 16 + 64
HISTOGRAM = "colour_histogram"
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
        stage = ColourStage.beside(encoder) if use_colour_stage else None
        self.colour_stage = stage if stage is not None and stage.label in self.classes else None  # only for a label it tags
        if self.colour_stage is not None:
            self.colour_stage.check(self.classes[stage.label], encoder)

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
        stage = self.colour_stage
        results, readable = run_model(self.encoder, images, outputs + (["embedding"] if stage else []), batch_size,
                                      skip_unreadable, histograms=stage is not None)
        if stage is not None and len(results["embedding"]):
            head = PROBABILITIES + stage.label
            results[head] = stage.predict_proba(results["embedding"], results[head], results[HISTOGRAM])
        return {label: results[PROBABILITIES + label].reshape(-1, len(self.classes[label])) for label in self.labels}, readable

    def tag(self, images: Sequence[ImageInput], batch_size: int = 64) -> list[dict[str, Tag]]:
        """For each image, the most likely value of every label."""
        probabilities = self.predict_proba(images, batch_size)
        tags = [{} for _ in images]
        for label, p in probabilities.items():
            best = p.argmax(axis=1)
            for i, (column, confidence) in enumerate(zip(best, p[np.arange(len(p)), best], strict=True)):
                tags[i][label] = Tag(label, self.classes[label][column], round(float(confidence), 4))
        return tags


class ZeroShotTagger:
    """Scores labels that no head was trained on ("floral", "striped", "denim"): the text tower puts each label in the
    photo encoder's searched space. A label's cosine to the photo is standardised by its cosines to reference photos
    (1,000 Fashion Product Images `train` photos, `reference.npz` beside the tower), so that a label near every photo
    does not win them all; a softmax over the labels gives each a probability.
    ``ZeroShotTagger.load().tag(["dress.jpg"], ["floral", "striped"])``."""

    def __init__(self, encoder: ImageEncoder, tower: TextTower):
        if not tower.fits(encoder):
            raise NoTagsError(f"the text tower {tower.name!r} was trained for {tower.image_encoder!r}, not for "
                              f"{encoder.name!r}: zero-shot labels need the default encoder")
        self.encoder, self.tower = encoder, tower
        self.reference = _reference_photos(tower)

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_TAGGER, threads: int | None = None) -> ZeroShotTagger:
        tower = load_text_tower()
        if tower is None:
            raise NoTagsError("zero-shot labels need the bundled text tower, which this installation lacks")
        return cls(create_encoder(name_or_path, threads=threads), tower)

    def predict_proba(self, images: Sequence[ImageInput], labels: Sequence[str] | str) -> np.ndarray:
        """An (n, labels) array of probabilities (labels as `checked_labels` gives them); raises `ImageError` for an
        unreadable image."""
        return self._probabilities(images, checked_labels(labels))

    def _probabilities(self, images: Sequence[ImageInput], labels: list[str]) -> np.ndarray:
        texts = self.tower.encode(labels)
        if not texts.any(axis=1).all():
            empty = [label for label, row in zip(labels, texts, strict=True) if not row.any()]
            raise NoTagsError(f"label(s) without a letter or digit: {', '.join(map(repr, empty))}")
        photos = self.encoder.encode(list(images))
        photos /= np.maximum(np.linalg.norm(photos, axis=1, keepdims=True), 1e-12)
        logits = photos @ texts.T
        if self.reference is not None:
            usual = self.reference @ texts.T
            logits = (logits - usual.mean(axis=0)) / np.maximum(usual.std(axis=0), 1e-6)
        else:
            logits = logits / ZERO_SHOT_TEMPERATURE
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def tag(self, images: Sequence[ImageInput], labels: Sequence[str]) -> list[list[Tag]]:
        """For each image, every label with its probability, the most likely first."""
        labels = checked_labels(labels)
        return [sorted((Tag("zero-shot", label, round(float(p), 4)) for label, p in zip(labels, row, strict=True)),
                       key=lambda tag: -tag.confidence) for row in self._probabilities(images, labels)]


MAX_LABELS = 100
ZERO_SHOT_TEMPERATURE = 0.05  # the tower's training temperature, for cosines not standardised


def _reference_photos(tower: TextTower) -> np.ndarray | None:
    path = Path(tower.directory) / "reference.npz" if tower.directory else None
    if path is None or not path.is_file():
        return None
    with np.load(path) as saved:
        return saved["photos"].astype(np.float32)


def checked_labels(labels: Sequence[str] | str) -> list[str]:
    """Labels as given (a comma-separated string or a list), stripped, each once; at least two.

    >>> checked_labels("floral, striped,,denim, floral")
    ['floral', 'striped', 'denim']
    """
    if isinstance(labels, str):
        labels = labels.split(",")
    chosen = list(dict.fromkeys(label.strip() for label in labels if label and label.strip()))
    if len(chosen) < 2:
        raise NoTagsError(f"give at least two labels to choose between, e.g. 'floral,striped,denim' (got {chosen})")
    if len(chosen) > MAX_LABELS or any(len(label) > 200 for label in chosen):
        raise NoTagsError(f"at most {MAX_LABELS} labels of at most 200 characters each")
    return chosen


def run_model(encoder: ImageEncoder, images: Sequence[ImageInput], outputs: list[str], batch_size: int = 64,
              skip_unreadable: bool = True, histograms: bool = False, on_batch=None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Named model outputs for the readable images (with ``histograms``, also their `colour_histogram`
    as ``HISTOGRAM``) and a mask of the readable ones; ``on_batch(n)`` is called after each batch."""
    names = outputs + ([HISTOGRAM] if histograms else [])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    readable = np.ones(len(images), bool)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        pixels = []
        for offset, image in enumerate(batch):
            try:
                pixels.append(_pixels(encoder, image))
            except ImageError:
                if not skip_unreadable:
                    raise
                readable[start + offset] = False
        if pixels:
            stacked = np.stack(pixels)
            for name, values in zip(outputs, encoder.run(stacked, outputs), strict=True):
                parts[name].append(values)
            if histograms:
                parts[HISTOGRAM].append(colour_histogram(stacked))
        if on_batch:
            on_batch(len(batch))
    return {name: np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32) for name, chunks in parts.items()}, readable


def _pixels(encoder: ImageEncoder, image: ImageInput) -> np.ndarray:
    try:
        return encoder.preprocess(image)
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
    hue = np.where(high == red, (green - blue) / safe % 6,
                   np.where(high == green, (blue - red) / safe + 2, (red - green) / safe + 4)) / 6
    saturation = np.where(high > 0, spread / np.where(high > 0, high, 1.0), 0.0)
    hsv_bin = (_bins(hue * (spread > 0), HUE_BINS) * 4 + _bins(saturation, 4)) * 4 + _bins(high, 4)
    cube = _bins(rgb, 4)
    rgb_bin = (cube[..., 0] * 4 + cube[..., 1]) * 4 + cube[..., 2]
    product = low < WHITE
    product[product.sum(axis=1) < 20] = True  # an almost all-white photo: use every pixel
    image = np.broadcast_to(np.arange(len(pixels))[:, None], product.shape)[product]
    counts = np.concatenate([
        np.bincount(image * HUE_BINS * 16 + hsv_bin[product], minlength=len(pixels) * HUE_BINS * 16).reshape(len(pixels), -1),
        np.bincount(image * 64 + rgb_bin[product], minlength=len(pixels) * 64).reshape(len(pixels), -1),
    ], axis=1)
    return np.sqrt(counts / product.sum(axis=1, keepdims=True)).astype(np.float32)


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
    def features(embedding: np.ndarray, probabilities: np.ndarray, histogram: np.ndarray) -> np.ndarray:
        """What the stage reads: the embedding, the head's log-probabilities and the colour histogram."""
        return np.hstack([embedding, np.log(probabilities + 1e-6), histogram]).astype(np.float32)

    def predict_proba(self, embedding: np.ndarray, probabilities: np.ndarray, histogram: np.ndarray) -> np.ndarray:
        return self.proba_of_features(self.features(embedding, probabilities, histogram))

    def proba_of_features(self, features: np.ndarray) -> np.ndarray:
        """Probabilities from already assembled `features`."""
        logits = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        logits = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (logits / logits.sum(axis=1, keepdims=True)).astype(np.float32)

    def check(self, classes: list[str], encoder: ImageEncoder) -> None:
        """Refuse a stage fitted to other heads: other classes or another embedding size."""
        features = encoder.spec.dimension + len(classes) + HISTOGRAM_SIZE  # the "embedding" output, not the searched vector
        if self.classes != classes or self.coef.shape != (features, len(classes)) or self.mean.shape != (features,):
            raise DressUpError(f"{COLOUR_STAGE_FILE} of {encoder.name!r} was fitted to other {self.label} heads; "
                               f"run `dressup train colour` again or delete the file")

    def save(self, path: str | Path) -> Path:
        """Write atomically: a crash leaves the previous file (or none), never half of one."""
        buffer = io.BytesIO()
        np.savez(buffer, label=self.label, classes=np.array(self.classes), mean=self.mean, scale=self.scale,
                 coef=self.coef, intercept=self.intercept)
        return atomic_write(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> ColourStage:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(str(data["label"]), data["classes"].tolist(), data["mean"], data["scale"], data["coef"],
                           data["intercept"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise DressUpError(f"{path}: not a readable colour stage ({error}); "
                               "run `dressup train colour` again or delete it") from None

    @classmethod
    def beside(cls, encoder: ImageEncoder) -> ColourStage | None:
        """The stage saved with the encoder's model directory: its spec names it (the spec is written last)."""
        entry = encoder.spec.extra.get("colour_stage")
        if encoder.directory is None or not entry:
            return None
        return cls.load(encoder.directory / entry.get("file", COLOUR_STAGE_FILE))
