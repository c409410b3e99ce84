"""Train the text tower (`dressup.encoders.text_tower`) against a locked image encoder, LiT-style.

Each product gives several texts a shopper might type (its whole description, "<colour> <type>", "<type>", its
title...), and the target is its photo's searched vector. The loss is InfoNCE over the batch, every product whose
text is the same string counting as a positive. Early stopping on held-out products: the mean of "<colour> <type>"
P@10 (both right) and description -> own product R@10.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from ..encoders.text_tower import TextFeatures, TextTower, item_descriptions, words
from ..progress import SILENT, Progress


@dataclass(frozen=True)
class TextTowerConfig:
    width: int = 256       # feature vectors
    hidden: int = 768
    buckets: int = 16_384  # hashed character n-grams
    min_count: int = 2     # a word enters the vocabulary when the training texts hold it this often
    epochs: int = 60
    patience: int = 8
    batch_size: int = 1024
    lr: float = 3e-3
    weight_decay: float = 1e-5
    temperature: float = 0.05
    word_dropout: float = 0.3
    seed: int = 0


@dataclass
class TextTowerReport:
    epochs: int = 0
    best_epoch: int = 0
    seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def product_views(items: pd.DataFrame) -> list[list[str]]:
    """The texts each product is trained with: what a shopper might type for it, and its whole description."""
    descriptions = item_descriptions(items)
    views = []
    for row, description in zip(items.itertuples(index=False), descriptions, strict=True):
        kind = _plain(getattr(row, "category", ""))
        colour = _plain(getattr(row, "colour", ""))
        gender = _plain(getattr(row, "gender", ""))
        title = _plain(getattr(row, "title", ""))
        candidates = [description, title, kind, f"{colour} {kind}", f"{gender} {kind}", f"{colour} {gender} {kind}",
                      f"{kind} {colour}"]
        views.append(list(dict.fromkeys(v.strip() for v in candidates if v.strip())))
    return views


def _plain(value) -> str:
    return value.strip() if isinstance(value, str) else ""


class _Tower(torch.nn.Module):
    def __init__(self, features: int, config: TextTowerConfig, dimension: int):
        super().__init__()
        self.bag = torch.nn.EmbeddingBag(features, config.width, mode="mean")
        self.hidden = torch.nn.Linear(config.width, config.hidden)
        self.out = torch.nn.Linear(config.hidden, dimension)
        torch.nn.init.normal_(self.bag.weight, std=0.1)

    def forward(self, ids, offsets):
        return F.normalize(self.out(F.relu(self.hidden(self.bag(ids, offsets)))), dim=1)


def train_text_tower(
    items: pd.DataFrame,
    targets: np.ndarray,
    validation: tuple[pd.DataFrame, np.ndarray],
    *,
    name: str,
    image_encoder: str,
    image_fingerprint: str,
    config: TextTowerConfig = TextTowerConfig(),
    progress: Progress = SILENT,
) -> tuple[TextTower, TextTowerReport]:
    """A text tower whose vectors of ``items``' texts land near ``targets`` (their photos' searched vectors)."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    views = product_views(items)
    counts = Counter(w for texts in views for text in texts for w in words(text))
    vocabulary = tuple(sorted(w for w, n in counts.items() if n >= config.min_count))
    features = TextFeatures(vocabulary, config.buckets)
    targets = torch.from_numpy(_unit(targets))
    model = _Tower(features.size, config, targets.shape[1])
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * int(np.ceil(len(items) / config.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr, total_steps=steps, pct_start=0.1)
    meta = {"name": name, "dimension": int(targets.shape[1]), "image_encoder": image_encoder,
            "image_fingerprint": image_fingerprint, "vocabulary": list(vocabulary), "buckets": config.buckets,
            "ngrams": list(features.ngrams), "layers": 2}
    report, best, best_state, waited = TextTowerReport(), -1.0, None, 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(len(items))
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            texts = [_dropped(views[i][rng.integers(len(views[i]))], config.word_dropout, rng) for i in batch]
            ids, offsets = _bag([features.ids(t) for t in texts])
            loss = text_to_image_loss(model(ids, offsets), targets[batch], texts, config.temperature)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
        tower = _exported(model, meta)
        scores = validate(tower, *validation)
        report.history.append({"epoch": epoch, "loss": round(float(np.mean(losses)), 4), **scores})
        progress.note(f"epoch {epoch}: loss {np.mean(losses):.3f}, " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        if scores["score"] > best:
            best, best_state, waited, report.best_epoch = scores["score"], tower, 0, epoch
        else:
            waited += 1
            if waited >= config.patience:
                break
    report.epochs, report.seconds = len(report.history), round(time.perf_counter() - started, 1)
    return best_state, report


def text_to_image_loss(vectors: torch.Tensor, targets: torch.Tensor, texts: list[str], temperature: float) -> torch.Tensor:
    """InfoNCE from each text to its product's image vector, where the products of the same text are all positives."""
    logits = vectors @ targets.T / temperature
    same = torch.tensor(np.array(texts, dtype=object)[:, None] == np.array(texts, dtype=object)[None, :])
    return (torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~same, -1e9), 1)).mean()


def validate(tower: TextTower, items: pd.DataFrame, targets: np.ndarray, k: int = 10) -> dict[str, float]:
    """Held-out products as a gallery: "<colour> <type>" P@10 with both right, description -> own product R@10."""
    gallery = _unit(targets)
    kinds, colours = items["category"].astype(str).to_numpy(), items["colour"].astype(str).to_numpy()
    pairs = pd.Series(list(zip(kinds, colours, strict=True))).value_counts()
    pairs = [pair for pair, n in pairs.items() if n >= k and pair[0] and pair[1]]
    both = []
    if pairs:
        found = _top(tower.encode([f"{colour} {kind}" for kind, colour in pairs]) @ gallery.T, k)
        both = [((kinds[rows] == kind) & (colours[rows] == colour)).mean() for (kind, colour), rows in zip(pairs, found)]
    own = _top(tower.encode(item_descriptions(items)) @ gallery.T, k)
    recall = float(np.mean([row in rows for row, rows in enumerate(own)]))
    pair_precision = float(np.mean(both)) if both else 0.0
    return {"colour_type_p10": round(pair_precision, 4), "description_r10": round(recall, 4),
            "score": round((pair_precision + recall) / 2, 4)}


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-scores, axis=1)[:, :k]


def _unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _dropped(text: str, rate: float, rng: np.random.Generator) -> str:
    tokens = text.split()
    if len(tokens) < 4 or rate <= 0:
        return text
    kept = [t for t in tokens if rng.random() >= rate]
    return " ".join(kept or tokens[:1])


def _bag(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [r or [0] for r in rows]
    offsets = np.cumsum([0] + [len(r) for r in rows[:-1]])
    return torch.tensor([i for r in rows for i in r]), torch.tensor(offsets)


def _exported(model: _Tower, meta: dict) -> TextTower:
    with torch.no_grad():
        weights = {"embeddings": model.bag.weight.numpy().copy(),
                   "w1": model.hidden.weight.T.numpy().copy(), "b1": model.hidden.bias.numpy().copy(),
                   "w2": model.out.weight.T.numpy().copy(), "b2": model.out.bias.numpy().copy()}
    return TextTower(meta, weights)
