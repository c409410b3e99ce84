"""Outfit evaluation on a split of one's own: fill-in-the-blank (warm and cold) and compatibility AUC.

Split: a share of the items used in outfits is made *cold*: every outfit holding one leaves
training (it may become a cold question); of the other outfits a share is held out for warm
questions. Wrong candidates share the right one's slot (product family); in the warm setting they
are also used about as often in training outfits; in the cold setting they are other cold products
(used by stylists, but only in held-out outfits), so neither category, popularity nor "was ever
used" gives the answer away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..outfits import BASELINES, CompatibilityScorer, OutfitDataError, OutfitScorer, OutfitTable, item_slots, slot_templates
from ..progress import SILENT, Progress


@dataclass
class OutfitSplit:
    train: OutfitTable
    warm: OutfitTable
    cold: OutfitTable
    cold_items: np.ndarray


@dataclass
class Question:
    outfit: np.ndarray  # rows of the items shown
    candidates: np.ndarray  # rows; the right one first
    setting: str


def split_outfits(outfits: OutfitTable, n_items: int, cold_share: float = 0.08, warm_share: float = 0.1,
                  seed: int = 0) -> OutfitSplit:
    rng = np.random.default_rng(seed)
    used = np.flatnonzero(outfits.usage(n_items) > 0)
    cold_items = rng.choice(used, size=int(len(used) * cold_share), replace=False)
    is_cold = np.zeros(n_items, bool)
    is_cold[cold_items] = True
    cold_outfits = [i for i, rows in enumerate(outfits.rows) if is_cold[rows].any()]
    rest = np.array([i for i in range(len(outfits)) if not is_cold[outfits.rows[i]].any()])
    rng.shuffle(rest)
    n_warm = int(len(rest) * warm_share)
    return OutfitSplit(outfits.subset(rest[n_warm:]), outfits.subset(rest[:n_warm]), outfits.subset(cold_outfits),
                       np.sort(cold_items))


def fitb_questions(split: OutfitSplit, slots: np.ndarray, setting: str, n_candidates: int = 4, seed: int = 0) -> list[Question]:
    """One question per held-out outfit: hide one item, offer it with ``n_candidates - 1`` wrong ones."""
    rng = np.random.default_rng(seed)
    usage = split.train.usage(len(slots))
    source = split.warm if setting == "warm" else split.cold
    questions = []
    for rows in source.rows:
        if setting == "warm":
            choices = rows[usage[rows] > 0]
        else:
            choices = rows[np.isin(rows, split.cold_items)]
        if len(choices) == 0 or len(rows) < 2:
            continue
        hidden = choices[rng.integers(len(choices))]
        same_slot = np.flatnonzero(slots == slots[hidden])
        same_slot = same_slot[~np.isin(same_slot, rows)]
        if setting == "warm":
            ratio = usage[same_slot] / max(usage[hidden], 1)
            pool = same_slot[(usage[same_slot] > 0) & (ratio >= 0.5) & (ratio <= 2.0)]
        else:
            # other held-out products stylists did use: the same population as the right answer,
            # so "was ever put in an outfit" cannot give it away
            pool = same_slot[np.isin(same_slot, split.cold_items)]
        if len(pool) < n_candidates - 1:
            continue
        wrong = rng.choice(pool, size=n_candidates - 1, replace=False)
        questions.append(Question(rows[rows != hidden], np.concatenate([[hidden], wrong]), setting))
    return questions


def fake_outfits(real: OutfitTable, n_items: int, seed: int = 0) -> list[np.ndarray]:
    """Negatives for compatibility AUC: each real outfit's size, items drawn at random from the catalog."""
    rng = np.random.default_rng(seed)
    return [rng.choice(n_items, size=len(rows), replace=False) for rows in real.rows]


def fitb_accuracy(questions: list[Question], scorer: OutfitScorer) -> float:
    """Share of questions whose right candidate (listed first) scores highest; ties count as a fraction."""
    if not questions:
        return 0.0
    total = 0.0
    for q in questions:
        scores = np.asarray(scorer.candidate_scores(q.outfit, q.candidates), float)
        best = scores == scores.max()
        total += best[0] / best.sum()
    return total / len(questions)


def outfit_auc(real: list[np.ndarray], fake: list[np.ndarray], score: Callable[[np.ndarray], float]) -> float:
    from sklearn.metrics import roc_auc_score

    labels = np.r_[np.ones(len(real)), np.zeros(len(fake))]
    return float(roc_auc_score(labels, [score(rows) for rows in [*real, *fake]]))


@dataclass
class OutfitReport:
    """FITB accuracy (warm, cold) and compatibility AUC of the model and the baselines."""

    train_outfits: int
    warm_questions: int
    cold_questions: int
    auc_outfits: int
    fitb_warm: dict[str, float] = field(default_factory=dict)
    fitb_cold: dict[str, float] = field(default_factory=dict)
    auc: dict[str, float] = field(default_factory=dict)
    training_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_outfits(store, outfits: OutfitTable, config=None, seed: int = 0, progress: Progress = SILENT):
    """Split, train on the training part, score the held-out questions with the model and every baseline scorer
    (`dressup.outfits.BASELINES`); returns the report, the model trained on the training part and the split."""
    from ..training.outfits import train_compatibility

    split = split_outfits(outfits, store.rows, seed=seed)
    slots = item_slots(store)
    warm = fitb_questions(split, slots, "warm", seed=seed)
    cold = fitb_questions(split, slots, "cold", seed=seed)
    if len(split.train) < 20 or not warm or not cold:
        raise OutfitDataError(
            f"too few outfits to evaluate: {len(split.train)} for training, {len(warm)} warm and {len(cold)} cold questions "
            "(needs at least 20 training outfits and one question of each kind)"
        )
    model = train_compatibility(store, split.train, config, progress)
    model.info["templates"] = [[list(t), c] for t, c in slot_templates(split.train, slots).most_common()]
    scorers = [baseline.fit(store, split.train, seed) for baseline in BASELINES.values()] + [CompatibilityScorer(model, store)]
    held_out = [*split.warm.rows, *split.cold.rows]
    fake = fake_outfits(OutfitTable([], held_out), store.rows, seed=seed)
    report = OutfitReport(len(split.train), len(warm), len(cold), len(held_out), training_seconds=model.info["seconds"])
    for scorer in scorers:
        report.fitb_warm[scorer.name] = round(fitb_accuracy(warm, scorer), 4)
        report.fitb_cold[scorer.name] = round(fitb_accuracy(cold, scorer), 4)
        report.auc[scorer.name] = round(outfit_auc(held_out, fake, scorer.outfit_score), 4)
    return report, model, split


def plot_outfits(store, outfits: list[list[str]], titles: list[str], path: str | Path, size: int = 110) -> Path:
    """A PNG with one row per outfit (product images, given items framed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    width = max(len(o) for o in outfits)
    figure, axes = plt.subplots(len(outfits), width, figsize=(1.3 * width, 1.7 * len(outfits)), squeeze=False)
    for line, (items, title) in enumerate(zip(outfits, titles, strict=True)):
        for position in range(width):
            axis = axes[line, position]
            axis.set_xticks([]), axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if position >= len(items):
                continue
            row = store.row(items[position])
            try:
                image = Image.open(store.items["image"].iat[row]).convert("RGB")
                image.thumbnail((size, size))
                axis.imshow(image)
            except OSError:
                pass
            axis.set_title(str(store.items["category"].iat[row])[:14], fontsize=6)
        axes[line, 0].set_ylabel(title, fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
