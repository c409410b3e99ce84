"""Fit a model directory's colour stage: ``dressup train colour --model DIR --catalog SOURCE``.

A logistic regression re-predicts one colour label from the head's log-probabilities, the embedding
and the photo's colour histogram (`dressup.tagging.ColourStage`). It is fitted on the items the
encoder trained on, its strength is chosen on the val items, and it replaces the saved stage only if
it beats the head there (then it is refitted on both); ``test`` items are never read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from ..encoders.image_encoder import SPEC_FILE, ImageEncoder
from ..errors import DressUpError
from ..files import atomic_write
from ..progress import SILENT, Progress
from ..tagging import COLOUR_STAGE_FILE, HISTOGRAM, PROBABILITIES, ColourStage, Tagger, run_model
from .dataset import read_labelled_images, training_rows

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
    kept: bool  # False: the stage lost to the head on val, and the model directory was left as it was
    tried: dict[float, float] = field(default_factory=dict)


def fit_colour_stage(model_dir: str | Path, catalog: str | Path, label: str = "baseColour", split_file: str | Path | None = None,
                     progress: Progress = SILENT, seed: int = 0, val_holdout: int | None = None) -> ColourStageReport:
    """Fit, compare with the head on val, and (if better) save ``colour-stage.npz`` beside the model.

    ``seed`` and ``val_holdout`` must be the encoder's own (`TrainConfig`), so that val means the same items.
    """
    model_dir = Path(model_dir)
    if not (model_dir / SPEC_FILE).is_file():
        raise DressUpError(f"{model_dir} is not a model directory (no {SPEC_FILE})")
    encoder = ImageEncoder.load(model_dir)
    heads = Tagger(encoder, use_colour_stage=False).classes
    if label not in heads:
        raise DressUpError(f"the model in {model_dir} has no {label!r} head; it tags {', '.join(heads)}")
    classes = heads[label]
    data = read_labelled_images(catalog, [label], split_file, seed=seed)
    names = np.array(data.classes[label] + [""], dtype=object)[data.codes[label]]
    train, val = (rows[np.isin(names[rows], classes)] for rows in training_rows(data, val_holdout, seed))
    rows = np.concatenate([train, val])
    step, done = f"{label} stage: reading photos", [0]

    def advance(count: int) -> None:
        done[0] += count
        progress.update(step, done[0], len(rows))

    outputs, readable = run_model(encoder, [data.images[i] for i in rows], ["embedding", PROBABILITIES + label], histograms=True,
                                  on_batch=advance)
    target = np.array([classes.index(name) for name in names[rows[readable]]], dtype=np.int64)
    is_train = (np.arange(len(rows)) < len(train))[readable]
    if len(np.unique(target[is_train])) < 2 or is_train.all():
        raise DressUpError(f"fitting the {label} stage needs readable train items of two {label} values or more and some val "
                           "items; "
                           f"found {int(is_train.sum())} train and {int((~is_train).sum())} val items")
    probabilities = outputs[PROBABILITIES + label]
    features = ColourStage.features(outputs["embedding"], probabilities, outputs[HISTOGRAM])
    head_accuracy = float((probabilities[~is_train].argmax(axis=1) == target[~is_train]).mean())
    tried = {}
    for strength in STRENGTHS:
        stage = _fit(features[is_train], target[is_train], strength, label, classes)
        tried[strength] = float((stage.proba_of_features(features[~is_train]).argmax(axis=1) == target[~is_train]).mean())
    strength = max(tried, key=tried.get)
    report = ColourStageReport(label, int(is_train.sum()), int((~is_train).sum()), head_accuracy, tried[strength], strength,
                               tried[strength] > head_accuracy, tried)
    if report.kept:
        _fit(features, target, strength, label, classes).save(model_dir / COLOUR_STAGE_FILE)
        _record(model_dir, report)  # the spec names the stage: written last, it is what switches the new stage on
    return report


def _fit(features: np.ndarray, target: np.ndarray, strength: float, label: str, classes: list[str]) -> ColourStage:
    scaler = StandardScaler().fit(features)
    model = LogisticRegression(C=strength, max_iter=500).fit(scaler.transform(features), target)
    coef, intercept = stage_weights(model, len(classes))
    return ColourStage(label, classes, scaler.mean_.astype(np.float32), scaler.scale_.astype(np.float32), coef, intercept)


def stage_weights(model: LogisticRegression, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """A fitted logistic regression as (features, classes) weights and biases over all the head's classes.

    A class never seen in fitting is never predicted; with two classes scikit-learn keeps one weight
    vector (for the second class against the first), which becomes the second class's logit.
    """
    coef = np.zeros((model.coef_.shape[1], classes), np.float32)
    intercept = np.full(classes, -30.0, np.float32)
    if len(model.classes_) == 2:
        coef[:, model.classes_[1]], intercept[model.classes_] = model.coef_[0], (0.0, model.intercept_[0])
    else:
        coef[:, model.classes_], intercept[model.classes_] = model.coef_.T, model.intercept_
    return coef, intercept


def _record(model_dir: Path, report: ColourStageReport) -> None:
    """Name the stage and its val figures in ``encoder.json`` and the model card (both atomically)."""
    spec_path = model_dir / SPEC_FILE
    spec = json.loads(spec_path.read_text())
    spec.setdefault("extra", {})["colour_stage"] = {
        "label": report.label, "file": COLOUR_STAGE_FILE, "strength": report.strength,
        "val_accuracy_head": round(report.head_val_accuracy, 4), "val_accuracy": round(report.stage_val_accuracy, 4)}
    atomic_write(spec_path, json.dumps(spec, indent=2))
    card = model_dir / "README.md"
    if card.is_file():
        text = card.read_text().split(CARD_SECTION)[0].rstrip() + "\n"
        text += (f"\n{CARD_SECTION}\n`{report.label}` is re-predicted by a logistic regression over the head's "
                 "log-probabilities, "
                 "the embedding and a colour histogram of the photo (`dressup train colour`), "
                 f"fitted on {report.train_items:,} train "
                 f"items and refitted with val: val accuracy {report.head_val_accuracy:.3f} (head alone) -> "
                 f"{report.stage_val_accuracy:.3f} (C={report.strength:g}, chosen on val).\n")
        atomic_write(card, text)
