"""Evaluation of auto-tagging: accuracy, macro-F1 and calibration (expected calibration error) per label on held-out
items, with confusion-matrix and reliability PNGs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import label_column, read_catalog, read_split, split_file_beside
from ..errors import DressUpError
from ..metrics import accuracy, calibration_bins, expected_calibration_error, macro_f1


@dataclass
class TaggingReport:
    """Accuracy, macro-F1 and expected calibration error (of the predicted value's confidence) of each label on
    held-out items."""

    items: int
    encoder: str
    accuracy: dict[str, float] = field(default_factory=dict)
    macro_f1: dict[str, float] = field(default_factory=dict)
    calibration_error: dict[str, float] = field(default_factory=dict)
    unknown_values: dict[str, int] = field(default_factory=dict)  # held-out items whose true value the model never saw
    unreadable_images: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_tagging(
    tagger,
    catalog: str | Path,
    split_file: str | Path | None = None,
    split: str = "test",
    labels: list[str] | None = None,
    confusion_dir: str | Path | None = None,
) -> TaggingReport:
    """Tag the catalog's ``split`` items and compare with their true labels.

    Items with no true value are skipped for that label; true values the model has no class for
    count as errors (and are reported). With ``confusion_dir``, a confusion-matrix PNG per label.
    """

    items = read_catalog(catalog)
    split_file = split_file or _default_split_file(catalog)
    rows = np.flatnonzero(read_split(items["id"], split_file, unlisted="") == split)
    if len(rows) == 0:
        raise DressUpError(f"{split_file}: no item of {catalog} is in the {split!r} split")
    labels = labels or tagger.labels
    missing = [label for label in labels if label not in tagger.classes]
    if missing:
        raise DressUpError(f"the model predicts {', '.join(tagger.labels)}; it has no {', '.join(missing)}")
    probabilities, readable = tagger.predict_readable(items["image"].iloc[rows].tolist())
    rows = rows[readable]
    if len(rows) == 0:
        raise DressUpError(f"none of the {split} items' images can be read")
    report = TaggingReport(items=len(rows), encoder=tagger.encoder.name, unreadable_images=int((~readable).sum()))
    for label in labels:
        truth = label_column(items, label).iloc[rows].astype(object).to_numpy()
        known = np.array([not pd.isna(value) and str(value).strip() != "" for value in truth], dtype=bool)
        if not known.any():
            continue
        classes = tagger.classes[label]
        truth_names = np.array([str(v).strip() for v in truth[known]], dtype=object)
        predicted = np.array(classes, dtype=object)[probabilities[label][known].argmax(axis=1)]
        confidence = probabilities[label][known].max(axis=1)
        report.accuracy[label] = accuracy(truth_names, predicted)
        report.calibration_error[label] = round(expected_calibration_error(confidence, truth_names == predicted), 4)
        report.macro_f1[label] = macro_f1(truth_names, predicted)
        report.unknown_values[label] = int((~np.isin(truth_names, classes)).sum())
        if confusion_dir is not None:
            plot_confusion(truth_names, predicted, label, Path(confusion_dir) / f"confusion-{label}.png")
            plot_reliability(confidence, truth_names == predicted, label, Path(confusion_dir) / f"reliability-{label}.png")
    return report


def _default_split_file(catalog: str | Path) -> Path:
    found = split_file_beside(catalog)
    if found is None:
        raise DressUpError(f"{catalog}: no splits.csv beside the catalog; name one with --split-file")
    return found


def plot_confusion(truth, predicted, label: str, path: Path, top: int = 30) -> Path:
    """Row-normalised confusion matrix of the ``top`` most frequent true values (the rest pooled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    frequent = pd.Series(truth).value_counts().index[:top].tolist()
    other = "(other)"
    squash = np.vectorize(lambda v: v if v in frequent else other, otypes=[object])
    names = frequent + ([other] if len(set(truth) | set(predicted)) > len(frequent) else [])
    matrix = confusion_matrix(squash(truth), squash(predicted), labels=names).astype(float)
    matrix /= np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(5, 0.28 * len(names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    axis.set_yticks(range(len(names)), names, fontsize=7)
    axis.set_xlabel("predicted"), axis.set_ylabel("true")
    axis.set_title(f"{label}: confusion (rows sum to 1), {len(truth)} items", fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_reliability(confidence, correct, label: str, path: Path) -> Path:
    """Accuracy against confidence per confidence bin (the diagonal is perfect calibration), bins sized by count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = calibration_bins(confidence, correct)
    sure, right, counts = (np.array(values) for values in zip(*found, strict=True))
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot([0, 1], [0, 1], color="0.7", linestyle="--", label="calibrated")
    axis.plot(sure, right, marker="o", color="#b4235a", label="predicted value")
    axis.scatter(sure, right, s=20 + 180 * counts / counts.max(), color="#b4235a", alpha=0.3)
    axis.set_xlim(0, 1), axis.set_ylim(0, 1)
    axis.set_xlabel("confidence"), axis.set_ylabel("accuracy")
    ece = expected_calibration_error(confidence, correct)
    axis.set_title(f"{label}: reliability, ECE {ece:.3f}, {len(confidence)} items", fontsize=9)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
