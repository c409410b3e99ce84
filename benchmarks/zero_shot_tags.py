"""Zero-shot tags (`dressup tag --labels`) on labels no head was trained on, with chance and majority in the same run.

- H&M (never trained on): its ``graphical_appearance_name`` as the truth, for seven appearances named by plain words
  fixed in advance (Solid -> "solid", Stripe -> "striped", Check -> "checked", Denim -> "denim", Lace -> "lace",
  Dot -> "polka dot", Melange -> "melange"); up to ``--per-class`` photos of each (seed 0).
- Fashion Product Images `test`: the pattern word of a product's title ("striped", "checked", "printed", "solid"),
  for products whose title holds exactly one of them.

    python benchmarks/zero_shot_tags.py --hm ../shared/data/hm-sample --fpi ../shared/data/fashion-product-images
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dressup import Catalog
from dressup.tagging import ZeroShotTagger

HM_LABELS = {"Solid": "solid", "Stripe": "striped", "Check": "checked", "Denim": "denim", "Lace": "lace",
             "Dot": "polka dot", "Melange": "melange"}
FPI_WORDS = {"striped": r"\bstrip(e|ed|es)\b", "checked": r"\bcheck(s|ed)?\b", "printed": r"\bprint(ed)?\b",
             "solid": r"\bsolid\b"}


def hm_cases(folder: Path, per_class: int) -> tuple[list, list[str]]:
    items = Catalog.read(folder).items
    column = items["attr:graphical_appearance_name"]
    chosen = []
    for appearance in HM_LABELS:
        rows = items.index[column == appearance]
        chosen += list(np.random.default_rng(0).choice(rows, min(per_class, len(rows)), replace=False))
    picked = items.loc[chosen]
    return picked["image"].tolist(), [HM_LABELS[a] for a in picked["attr:graphical_appearance_name"]]


def fpi_cases(folder: Path, per_class: int) -> tuple[list, list[str]]:
    items = Catalog.read(folder).items
    splits = pd.read_csv(folder / "splits.csv", dtype={"id": str})
    items = items[items["id"].isin(splits.loc[splits["split"] == "test", "id"])]
    named = items["title"].fillna("").str.lower().map(
        lambda title: [word for word, pattern in FPI_WORDS.items() if re.search(pattern, title)])
    items, named = items[named.map(len) == 1], named[named.map(len) == 1].map(lambda words: words[0])
    images, truth = [], []
    for word in FPI_WORDS:
        rows = named.index[named == word]
        rows = np.random.default_rng(0).choice(rows, min(per_class, len(rows)), replace=False)
        images += items.loc[rows, "image"].tolist()
        truth += [word] * len(rows)
    return images, truth


def score(tagger: ZeroShotTagger, images: list, truth: list[str], labels: list[str]) -> dict:
    started = time.perf_counter()
    probabilities = tagger.predict_proba(images, labels)
    predicted = np.array(labels)[probabilities.argmax(axis=1)]
    truth = np.array(truth)
    right = predicted == truth
    recalls = {label: round(float(right[truth == label].mean()), 3) for label in labels if (truth == label).any()}
    draws = np.random.default_rng(1).choice(right, (1000, len(right))).mean(axis=1)
    counts = pd.Series(truth).value_counts()
    return {"photos": len(images), "accuracy": round(float(right.mean()), 4),
            "accuracy_interval": [round(float(v), 4) for v in np.percentile(draws, [2.5, 97.5])],
            "balanced_accuracy": round(float(np.mean(list(recalls.values()))), 4), "recall": recalls,
            "chance": round(1 / len(labels), 4), "majority": round(float(counts.iloc[0] / len(truth)), 4),
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hm", type=Path, default=Path("../shared/data/hm-sample"))
    parser.add_argument("--fpi", type=Path, default=Path("../shared/data/fashion-product-images"))
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    tagger = ZeroShotTagger.load()
    report = {"hm": score(tagger, *hm_cases(args.hm, args.per_class), list(HM_LABELS.values()))}
    print("H&M", json.dumps(report["hm"]), flush=True)
    report["fpi_test"] = score(tagger, *fpi_cases(args.fpi, args.per_class), list(FPI_WORDS))
    print("FPI test", json.dumps(report["fpi_test"]), flush=True)
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
