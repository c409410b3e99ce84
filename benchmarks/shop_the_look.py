"""Shop the look on composed photos: 1 to 4 Fashion Product Images products (of --split: `val` to develop on, `test`
to report) of different coarse types pasted
side by side or in a grid, on white or a plain tinted background, then `Store.look` (what `POST /similar?look=true`
runs) against a catalog.

A true garment is found when a returned garment of its coarse type overlaps its box (the product's non-background
pixels) with IoU >= --iou. It prints garments found (recall), returned garments that match none (false), the type of
the found ones, and the coarse type P@10 of each found garment's items in each catalog, and the time per photo.

    python benchmarks/shop_the_look.py --split test [--photos 200] [--catalogs fpi mango] [--stores /tmp/cross-catalog-stores]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from cross_catalog import DATA, fpi_queries, open_store
from PIL import Image

from dressup.looks import overlap
from dressup.product_types import coarse_types

TYPES = ("tops", "trousers", "shoes", "bags", "knitwear", "watches", "eyewear", "wallets", "belts", "outerwear",
         "scarves", "shorts", "hats", "dresses", "skirts", "socks")
LAYOUTS = {1: (1, 1), 2: (2, 1), 3: (3, 1), 4: (2, 2)}  # garments: (columns, rows)
TILE = (240, 320)
BACKGROUNDS = ((255, 255, 255), (232, 232, 232), (236, 226, 210))


def compose(products: pd.DataFrame, rng: np.random.Generator) -> tuple[Image.Image, list[dict]]:
    """One photo of the products and each one's true box and coarse type."""
    columns, rows = LAYOUTS[len(products)]
    background = BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    photo = Image.new("RGB", (columns * TILE[0], rows * TILE[1]), background)
    truth = []
    for number, product in enumerate(products.itertuples()):
        image = Image.open(product.image).convert("RGB")
        image.thumbnail((TILE[0] - 16, TILE[1] - 16))
        pixels = np.asarray(image)
        mask = (pixels < 240).any(axis=2)  # the product, not its white packshot border
        x = (number % columns) * TILE[0] + (TILE[0] - image.width) // 2
        y = (number // columns) * TILE[1] + (TILE[1] - image.height) // 2
        tinted = np.where(mask[..., None], pixels, np.asarray(background, np.uint8))
        photo.paste(Image.fromarray(tinted.astype(np.uint8)), (x, y))
        ys, xs = np.nonzero(mask)
        box = (x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1) if len(xs) else (x, y, x + 1, y + 1)
        truth.append({"type": product.coarse, "box": tuple(int(v) for v in box), "id": product.id})
    return photo, truth


def match(truth: list[dict], garments, threshold: float) -> list[int | None]:
    """For each true garment, the returned garment of its type that overlaps it best (IoU >= threshold), or None."""
    taken, found = set(), []
    for true in truth:
        options = [(overlap(true["box"], g.garment.box), n) for n, g in enumerate(garments)
                   if n not in taken and g.garment.type == true["type"]]
        best = max(options, default=(0.0, None))
        found.append(best[1] if best[0] >= threshold else None)
        if found[-1] is not None:
            taken.add(found[-1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", choices=["val", "test"], default="val")
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--catalogs", nargs="+", default=["fpi", "mango"], choices=["fpi", "mango", "hm"])
    parser.add_argument("--stores", type=Path, default=Path("/tmp/cross-catalog-stores"))
    parser.add_argument("--iou", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--save", type=Path, help="A folder for the first 12 photos with their garments drawn.")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    products = fpi_queries(args.data, args.split)
    products = products[products["coarse"].isin(TYPES)]
    photos = []
    for _ in range(args.photos):
        count = int(rng.integers(1, 5))
        kinds = rng.choice(sorted(set(products["coarse"])), size=count, replace=False)
        chosen = pd.concat([products[products["coarse"] == kind].sample(1, random_state=int(rng.integers(2**31)))
                            for kind in kinds])
        photos.append(compose(chosen, rng))

    report = {"split": args.split, "photos": len(photos), "garments": sum(len(t) for _, t in photos), "iou": args.iou}
    for name in args.catalogs:
        store = open_store(name, args.stores, args.data)
        gallery = coarse_types(store.column("category"))
        store.look(photos[0][0], k=10)  # the finder is made on first use
        found = returned = false = 0
        precision, seconds, per_count = [], [], {}
        for number, (photo, truth) in enumerate(photos):
            began = time.perf_counter()
            looked = store.look(photo, k=10)
            seconds.append(time.perf_counter() - began)
            matched = match(truth, looked, args.iou)
            found += sum(m is not None for m in matched)
            returned += len(looked)
            false += len(looked) - sum(m is not None for m in matched)
            per_count.setdefault(len(truth), []).append(np.mean([m is not None for m in matched]))
            for true, m in zip(truth, matched, strict=True):
                if m is not None:
                    rows = [match.row for match in looked[m].matches]
                    precision.append(float(np.mean(gallery[rows] == true["type"])) if rows else 0.0)
            if args.save and number < 12 and name == args.catalogs[0]:
                draw(photo, truth, looked, args.save / f"look-{number:02d}.png")
        report[name] = {
            "garments found": round(found / report["garments"], 3), "returned": returned,
            "returned matching no garment": false,
            "found by garments per photo": {n: round(float(np.mean(v)), 3) for n, v in sorted(per_count.items())},
            "coarse P@10 of found garments": round(float(np.mean(precision)), 3) if precision else None,
            "look ms p50": round(1000 * float(np.median(seconds)), 1),
            "look ms p90": round(1000 * float(np.percentile(seconds, 90)), 1)}
        print(name, json.dumps(report[name]), flush=True)
        store.close()
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")


def draw(photo: Image.Image, truth: list[dict], looked, path: Path) -> None:
    from PIL import ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    canvas = photo.copy()
    pen = ImageDraw.Draw(canvas)
    for true in truth:
        pen.rectangle(true["box"], outline=(0, 160, 0), width=2)
    for garment in looked:
        pen.rectangle(garment.garment.box, outline=(200, 0, 60), width=3)
        pen.text((garment.garment.box[0] + 4, garment.garment.box[1] + 4),
                 f"{garment.garment.type} {garment.garment.confidence:.2f}", fill=(200, 0, 60))
    canvas.save(path)


if __name__ == "__main__":
    main()
