"""Train the shipped text tower (src/dressup/models/fashion-text) on Fashion Product Images train/val and Mango.

The targets are the photos' searched vectors in stores built by plain `dressup index` with the default encoder.
Fashion Product Images `val` products and a 10% sample of Mango (seed 0) are held out for early stopping; FPI `test`
and H&M are never read.

    dressup index ../shared/data/fashion-product-images --store /tmp/stores/fashion-product-images
    dressup index ../shared/data/mango-outfits --store /tmp/stores/mango-outfits
    python scripts/train_text_tower.py --fpi /tmp/stores/fashion-product-images --mango /tmp/stores/mango-outfits \
        --out src/dressup/models/fashion-text
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from dressup import Store
from dressup.training.text_tower import TextTowerConfig, train_text_tower

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class Printed:
    def update(self, *args, **kwargs): ...
    def end(self, *args): ...
    def note(self, message: str) -> None:
        print(message, flush=True)


def store_rows(path: Path) -> tuple[pd.DataFrame, np.ndarray, Store]:
    store = Store.open(path)
    return store.items.reset_index(drop=True), np.asarray(store.embeddings(), np.float32), store


def training_split(fpi_store: Path, mango_store: Path, data: Path):
    """Training products and targets (FPI train + 90% of Mango), the held-out ones (FPI val + 10%), the FPI store."""
    fpi, fpi_targets, store = store_rows(fpi_store)
    splits = pd.read_csv(data / "fashion-product-images" / "splits.csv", dtype={"id": str})
    split = fpi["id"].map(dict(zip(splits["id"], splits["split"], strict=True))).to_numpy()
    mango, mango_targets, _ = store_rows(mango_store)
    held = np.random.default_rng(0).random(len(mango)) < 0.1
    items = pd.concat([fpi[split == "train"], mango[~held]], ignore_index=True)
    targets = np.concatenate([fpi_targets[split == "train"], mango_targets[~held]])
    val_items = pd.concat([fpi[split == "val"], mango[held]], ignore_index=True)
    val_targets = np.concatenate([fpi_targets[split == "val"], mango_targets[held]])
    return items, targets, val_items, val_targets, store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fpi", type=Path, required=True)
    parser.add_argument("--mango", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=TextTowerConfig.epochs)
    args = parser.parse_args()

    items, targets, val_items, val_targets, store = training_split(args.fpi, args.mango, args.data)
    print(f"training on {len(items):,} products, early stopping on {len(val_items):,}", flush=True)
    config = TextTowerConfig(epochs=args.epochs)
    tower, report = train_text_tower(items, targets, (val_items, val_targets), name="fashion-text",
                                     image_encoder=store.encoder.name, image_fingerprint=store.encoder.fingerprint,
                                     config=config, progress=Printed())
    tower.meta["training"] = {"config": asdict(config), "products": len(items), "held_out": len(val_items),
                              "best_epoch": report.best_epoch, "seconds": report.seconds,
                              "validation": report.history[report.best_epoch - 1]}
    tower.save(args.out)
    (args.out / "training-history.json").write_text(json.dumps(report.history, indent=1) + "\n")
    print(f"wrote {args.out} (best epoch {report.best_epoch}, {report.seconds:.0f} s)")


if __name__ == "__main__":
    main()
