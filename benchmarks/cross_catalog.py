"""Photos from another shop: Fashion Product Images photos (often model shots) as queries against the Mango and H&M
packshot catalogs, scored by coarse product type (`dressup.product_types`).

Each catalog is indexed by plain `dressup index` (the default encoder) into --stores, once. The queries are the FPI
products of one split (`val`, the check to develop on; `test`, the one to report) whose coarse type the catalog sells;
each photo is embedded as `POST /similar` embeds an upload (`Store.embed_images`), and P@10 counts results of the same
coarse type. Per coarse type too, and FPI against its own catalog by articleType for comparison.

    python benchmarks/cross_catalog.py --split val [--catalogs mango hm] [--stores /tmp/cross-stores] [--embedding-only]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dressup import Store, index_catalog
from dressup.embeddings import normalize_rows
from dressup.product_types import coarse_types

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = {"mango": "mango-outfits", "hm": "hm-sample", "fpi": "fashion-product-images"}


def open_store(name: str, stores: Path, data: Path) -> Store:
    path = stores / name
    if not (path / "manifest.json").exists():
        index_catalog(data / SOURCES[name], path)
    return Store.open(path)


def fpi_queries(data: Path, split: str) -> pd.DataFrame:
    fpi = data / SOURCES["fpi"]
    styles = pd.read_csv(fpi / "styles.csv", dtype={"id": str})
    splits = pd.read_csv(fpi / "splits.csv", dtype={"id": str})
    queries = styles.merge(splits, on="id")
    queries = queries[queries["split"] == split].copy()
    queries["image"] = [str(fpi / "images" / f"{item}.jpg") for item in queries["id"]]
    queries["coarse"] = coarse_types(queries["articleType"])
    return queries[queries["image"].map(lambda p: Path(p).exists())]


def embedding_only(store: Store):
    """A search over the encoder's embedding alone, without its search channels (the baseline)."""
    width = store.encoder.spec.dimension
    catalog = normalize_rows(np.asarray(store.embeddings(), np.float32)[:, :width])

    def search(photos: list[str], k: int) -> np.ndarray:
        scores = normalize_rows(store.encoder.encode(photos)[:, :width]) @ catalog.T
        return np.argsort(-scores, axis=1)[:, :k]
    return search


def cross_precision(store: Store, queries: pd.DataFrame, k: int, baseline: bool = False, batch: int = 64) -> dict:
    search = embedding_only(store) if baseline else lambda photos, k: store.search_vectors(store.embed_images(photos), k)[0]
    gallery = coarse_types(store.column("category"))
    sold = set(gallery) - {""}
    queries = queries[queries["coarse"].isin(sold)]
    hits = []
    began = time.perf_counter()
    for start in range(0, len(queries), batch):
        part = queries.iloc[start:start + batch]
        rows = search(part["image"].tolist(), k)
        hits.append((gallery[rows] == part["coarse"].to_numpy()[:, None]).mean(axis=1))
    per_query = np.concatenate(hits)
    per_type = pd.Series(per_query).groupby(queries["coarse"].to_numpy()).agg(["mean", "size"])
    return {"queries": len(queries), "gallery": len(gallery), "coarse P@10": round(float(per_query.mean()), 3),
            "seconds": round(time.perf_counter() - began, 1),
            "per type": {t: {"P@10": round(float(r["mean"]), 3), "queries": int(r["size"])}
                         for t, r in per_type.iterrows()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--split", choices=["val", "test"], default="val")
    parser.add_argument("--catalogs", nargs="+", default=["mango", "hm"], choices=["mango", "hm"])
    parser.add_argument("--stores", type=Path, default=Path("/tmp/cross-catalog-stores"))
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--embedding-only", action="store_true", help="The baseline: the embedding without channels.")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    queries = fpi_queries(args.data, args.split)
    report = {"split": args.split, "k": args.k}
    for name in args.catalogs:
        report[name] = cross_precision(open_store(name, args.stores, args.data), queries, args.k, args.embedding_only)
        print(name, json.dumps(report[name]), flush=True)
    if args.output:
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
