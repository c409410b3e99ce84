"""A catalog of N products made from the three real catalogs in ../shared/data plus altered copies of their photos.

Every real product comes once; the rest are copies of real products whose photo is cropped, flipped, turned a few
degrees and colour-shifted, and whose id, title and price differ, so the catalog looks like a bigger shop's. The
photos and a generic ``catalog.csv`` are written to ``--out`` (outside the repository: they derive from the data).

    python benchmarks/catalog_at_scale.py --out /tmp/catalog-100k --items 100000
    dressup index /tmp/catalog-100k/catalog.csv --store stores/catalog-100k
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageOps

from dressup.catalog import read_catalog

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = {"fpi": "fashion-product-images", "hm": "hm-sample", "mango": "mango-outfits"}
SIZES = ["XS|S|M|L|XL", "S|M|L", "36|38|40|42", "M|L|XL", "One size"]


def real_products(data: Path) -> pd.DataFrame:
    """Every product of the three catalogs, in the item schema, with its source."""
    parts = []
    for short, folder in SOURCES.items():
        items = read_catalog(data / folder)
        parts.append(pd.DataFrame({
            "source_id": items["id"], "source": short, "title": items["title"], "category": items["category"],
            "subcategory": items["subcategory"], "colour": items["colour"], "gender": items["gender"],
            "price": items["price"], "brand": items["brand"], "photo": items["image"],
        }))
    products = pd.concat(parts, ignore_index=True)
    return products[products["photo"].map(os.path.isfile)].reset_index(drop=True)


def altered(photo: str, seed: int) -> Image.Image:
    """A copy of a product photo: cropped, maybe mirrored, turned a little, its colours shifted."""
    rng = np.random.default_rng(seed)
    image = Image.open(photo).convert("RGB")
    width, height = image.size
    keep = rng.uniform(0.8, 0.95)
    left, top = rng.uniform(0, 1 - keep) * width, rng.uniform(0, 1 - keep) * height
    image = image.crop((int(left), int(top), int(left + keep * width), int(top + keep * height)))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    image = image.rotate(rng.uniform(-6, 6), resample=Image.BILINEAR, fillcolor=(255, 255, 255))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.7, 1.3))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.9, 1.1))
    shift = rng.uniform(0.9, 1.1, size=3)
    return Image.fromarray(np.clip(np.asarray(image, np.float32) * shift, 0, 255).astype(np.uint8))


def write_copies(jobs: list[tuple[str, str, int]]) -> None:
    for photo, target, seed in jobs:
        if not os.path.exists(target):
            altered(photo, seed).save(target, quality=88)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    products = real_products(args.data)
    rng = np.random.default_rng(0)
    copies = rng.integers(len(products), size=max(0, args.items - len(products)))
    catalog = pd.concat([products.assign(copy=0), products.iloc[copies].assign(copy=np.arange(1, len(copies) + 1))],
                        ignore_index=True).iloc[: args.items]
    origins = zip(catalog["source"], catalog["source_id"], catalog["copy"])
    catalog["id"] = [f"{s}-{i}" if c == 0 else f"{s}-{i}-v{c}" for s, i, c in origins]
    (args.out / "photos").mkdir(parents=True, exist_ok=True)
    photos = zip(catalog["photo"], catalog["copy"], catalog["id"])
    catalog["image"] = [p if c == 0 else str(args.out / "photos" / f"{i}.jpg") for p, c, i in photos]
    base_price = catalog["price"].fillna(0).where(catalog["source"] == "hm", 0) * 1000  # H&M prices are normalised
    catalog["price"] = np.round(np.where(base_price > 0, base_price, rng.uniform(9, 120, len(catalog))), 2)
    catalog.loc[catalog["copy"] > 0, "title"] = catalog["title"] + " (variant " + catalog["copy"].astype(str) + ")"
    catalog["sizes"] = [SIZES[h % len(SIZES)] for h in pd.util.hash_array(catalog["id"].to_numpy()) % 1000]
    copies = zip(catalog["photo"], catalog["image"], range(len(catalog)), catalog["copy"])
    jobs = [(photo, target, seed) for photo, target, seed, copy in copies if copy > 0]
    chunks = [jobs[start : start + 500] for start in range(0, len(jobs), 500)]
    with ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(write_copies, chunks))
    columns = ["id", "image", "title", "category", "subcategory", "colour", "gender", "price", "sizes", "brand", "source"]
    catalog[columns].to_csv(args.out / "catalog.csv", index=False)
    print(f"{args.out / 'catalog.csv'}: {len(catalog):,} products, {len(jobs):,} altered photos")


if __name__ == "__main__":
    main()
