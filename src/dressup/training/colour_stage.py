"""Fit a model directory's colour stage: ``dressup train colour --model DIR --catalog SOURCE``.

A logistic regression re-predicts one colour label from the head's log-probabilities, the embedding
and the photo's colour histogram (`dressup.tagging.ColourStage`). It is fitted on the catalog's
``train`` items, its strength is chosen on the ``val`` items, and it is kept only if it beats the
head there; ``test`` items are never read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..encoders.image_encoder import SPEC_FILE, ImageEncoder
from ..errors import DressUpError
from ..tagging import COLOUR_STAGE_FILE, PROBABILITIES, ColourStage, Tagger
from .dataset import read_labelled_images

CARD_SECTION = "## Colour stage"
STRENGTHS = (0.003, 0.01, 0.03)  # inverse L2 penalty of the logistic regression, chosen on val


@dataclass
class ColourStageReport:
    label: str
    train_items: int
    val_items: int
    head_val_accuracy: float
    stage_val_accuracy: float
    strength: float
    kept: bool
    tried: dict[float, float] = field(default_factory=dict)


def fit_colour_stage(model_dir: str | Path, catalog: str | Path, label: str = "baseColour", split_file: str | Path | None = None,
                     progress=None) -> ColourStageReport:
    """Fit, compare with the head on val, and (if better) save ``colour-stage.npz`` beside the model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    model_dir = Path(model_dir)
    encoder = ImageEncoder.load(model_dir)
    heads = Tagger(encoder, use_colour_stage=False).classes
    if label not in heads:
        raise DressUpError(f"the model in {model_dir} has no {label!r} head; it tags {', '.join(heads)}")
    classes = heads[label]
    data = read_labelled_images(catalog, [label], split_file)
    names = np.array(data.classes[label] + [""], dtype=object)[data.codes[label]]
    known = np.isin(names, classes)
    train, val = np.flatnonzero(known & (data.split == "train")), np.flatnonzero(known & (data.split == "val"))
    if len(train) < 2 * len(classes) or len(val) == 0:
        raise DressUpError(f"fitting the {label} stage needs labelled train and val items; found {len(train)} and {len(val)}")
    features, probabilities, readable = _features(encoder, label, [data.images[i] for i in np.concatenate([train, val])], progress)
    target = np.array([classes.index(name) for name in names[np.concatenate([train, val])]])[readable]
    is_train = (np.arange(len(readable)) < len(train))[readable]
    head_accuracy = float((probabilities[~is_train].argmax(axis=1) == target[~is_train]).mean())

    def fit(rows: np.ndarray, strength: float):
        scaler = StandardScaler().fit(features[rows])
        model = LogisticRegression(C=strength, max_iter=500).fit(scaler.transform(features[rows]), target[rows])
        return scaler, model

    tried = {}
    for strength in STRENGTHS:
        scaler, model = fit(is_train, strength)
        tried[strength] = float((model.predict(scaler.transform(features[~is_train])) == target[~is_train]).mean())
    strength = max(tried, key=tried.get)
    report = ColourStageReport(label, int(is_train.sum()), int((~is_train).sum()), head_accuracy, tried[strength], strength,
                               tried[strength] > head_accuracy, tried)
    if report.kept:  # refit on train + val with the chosen strength
        scaler, model = fit(np.ones(len(target), bool), strength)
        coef = np.zeros((features.shape[1], len(classes)), np.float32)
        intercept = np.full(len(classes), -30.0, np.float32)  # a class never seen in training: never predicted
        coef[:, model.classes_] = model.coef_.T
        intercept[model.classes_] = model.intercept_
        stage = ColourStage(label, classes, scaler.mean_.astype(np.float32), scaler.scale_.astype(np.float32), coef, intercept)
        stage.save(model_dir / COLOUR_STAGE_FILE)
    _record(model_dir, report)
    return report


def _features(encoder: ImageEncoder, label: str, images: list, progress, batch_size: int = 64):
    outputs = ["embedding", PROBABILITIES + label]
    features, probabilities, readable = [], [], np.ones(len(images), bool)
    task = progress.add_task(f"{label} stage: reading photos", total=len(images)) if progress else None
    for start in range(0, len(images), batch_size):
        pixels = []
        for offset, image in enumerate(images[start : start + batch_size]):
            try:
                pixels.append(encoder.preprocess(image))
            except (OSError, ValueError):
                readable[start + offset] = False
        if pixels:
            batch = np.stack(pixels)
            embedding, probability = encoder.run(batch, outputs)
            features.append(ColourStage.features(embedding, probability, batch))
            probabilities.append(probability)
        if progress:
            progress.update(task, advance=len(images[start : start + batch_size]))
    if not features:
        raise DressUpError("none of the train and val photos can be read")
    return np.concatenate(features), np.concatenate(probabilities), readable


def _record(model_dir: Path, report: ColourStageReport) -> None:
    """Note the stage and its val figures in ``encoder.json`` (atomically), or drop a stale stage that lost."""
    spec_path = model_dir / SPEC_FILE
    spec = json.loads(spec_path.read_text())
    extra = spec.setdefault("extra", {})
    if report.kept:
        extra["colour_stage"] = {"label": report.label, "file": COLOUR_STAGE_FILE, "strength": report.strength,
                                 "val_accuracy_head": round(report.head_val_accuracy, 4), "val_accuracy": round(report.stage_val_accuracy, 4)}
    else:
        extra.pop("colour_stage", None)
        (model_dir / COLOUR_STAGE_FILE).unlink(missing_ok=True)
    _replace_text(spec_path, json.dumps(spec, indent=2))
    card = model_dir / "README.md"
    if card.is_file():
        text = card.read_text().split(CARD_SECTION)[0].rstrip() + "\n"
        if report.kept:
            text += (f"\n{CARD_SECTION}\n`{report.label}` is re-predicted by a logistic regression over the head's log-probabilities, "
                     f"the embedding and a colour histogram of the photo (`dressup train colour`), fitted on {report.train_items:,} train "
                     f"items and refitted with val: val accuracy {report.head_val_accuracy:.3f} (head alone) -> "
                     f"{report.stage_val_accuracy:.3f} (C={report.strength:g}, chosen on val).\n")
        _replace_text(card, text)


def _replace_text(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text(text)
    os.replace(temporary, path)
