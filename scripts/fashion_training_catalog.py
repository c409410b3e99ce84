"""Write the table the bundled `fashion-mobilenetv2` encoder is trained on: Fashion Product Images plus a
sample of Mango products, with one `product_type` label shared by both (Mango's types prefixed "mango ").

    python scripts/fashion_training_catalog.py --data ../shared/data --out runs/fashion-catalog
    dressup train encoder --catalog runs/fashion-catalog/catalog.csv --split-file runs/fashion-catalog/splits.csv \\
        --labels product_type,baseColour,articleType,gender,usage,season --epochs 10 --out MODEL_DIR

Fashion Product Images keeps its train/val/test split (test products are left out of the table); every
sampled Mango product is a training item. H&M is never used: it checks that the encoder generalises.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

LABELS = ("product_type", "baseColour", "articleType", "gender", "usage", "season")


def training_catalog(data: Path, mango_sample: int = 5000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    fpi, mango = data / "fashion-product-images", data / "mango-outfits"
    splits = pd.read_csv(fpi / "splits.csv", dtype={"id": str})
    splits = splits[splits["split"].isin(["train", "val"])]
    styles = pd.read_csv(fpi / "styles.csv", dtype={"id": str})
    styles = styles[styles["id"].isin(set(splits["id"]))]
    fpi_rows = pd.DataFrame({
        "id": styles["id"], "image": [str((fpi / "images" / f"{i}.jpg").resolve()) for i in styles["id"]],
        "product_type": styles["articleType"], "articleType": styles["articleType"], "baseColour": styles["baseColour"],
        "gender": styles["gender"], "usage": styles["usage"], "season": styles["season"],
    })
    products = pd.read_csv(mango / "products.csv", dtype=str).sample(n=mango_sample, random_state=seed)
    mango_rows = pd.DataFrame({
        "id": products["cod_modelo_color"], "image": [str((mango / f).resolve()) for f in products["des_filename"]],
        "product_type": "mango " + products["des_product_type"], "baseColour": products["des_agrup_color_eng"].str.title(),
    })
    table = pd.concat([fpi_rows, mango_rows], ignore_index=True)
    split = pd.concat([splits, pd.DataFrame({"id": mango_rows["id"], "split": "train"})], ignore_index=True)
    return table, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mango-sample", type=int, default=5000)
    args = parser.parse_args()
    table, split = training_catalog(args.data, args.mango_sample)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "catalog.csv", index=False)
    split.to_csv(args.out / "splits.csv", index=False)
    print(f"{args.out}: {len(table):,} products ({(split['split'] == 'train').sum():,} train, "
          f"{(split['split'] == 'val').sum():,} val); "
          f"train with --labels {','.join(LABELS)} --tag-labels {','.join(LABELS[1:])}")


if __name__ == "__main__":
    main()
