"""Text search quality on a store built by plain `dressup index`, with a TF-IDF keyword baseline in the same run.

Three query sets, each run through `Store.search` in every mode and through the baseline (scikit-learn TF-IDF over
the same item texts as the keyword index, and over title + description alone). "(words only)" ranks by the words
alone, without preferring the colours and types the query names (`prefer_named=False`):

- "<colour> <type>" for every (colour, category) pair with >= 10 items: P@10 with both right;
- each item's description (its ``--description`` attribute; default the title) as the query: its product, any colour
  variant (``--variant`` attribute), in the top 10;
- Marqo's category-to-product protocol: each category's name as the query, MRR of the first item of that category.

``--queries-from`` keeps only the queries made from the items of one split (FPI test products); the whole store is
searched either way.

    python benchmarks/text_search.py --store /tmp/stores/hm --description detail_desc --variant product_code
    python benchmarks/text_search.py --store /tmp/stores/fashion-product-images \
        --queries-from ../shared/data/fashion-product-images/splits.csv:test
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dressup import Store
from dressup.encoders.text_tower import item_descriptions
from dressup.store import SearchError

MODES = ("hybrid", "keywords", "visual")


def pair_queries(items: pd.DataFrame, chosen: np.ndarray, least: int = 10) -> list[tuple[str, str]]:
    pairs = items.loc[chosen, ["colour", "category"]].dropna().value_counts()
    return [(colour, kind) for (colour, kind), n in pairs.items() if n >= least and colour and kind]


def tfidf_ranker(texts: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True)
    matrix = vectorizer.fit_transform(texts)

    def rank(query: str, k: int) -> np.ndarray:
        scores = (matrix @ vectorizer.transform([query]).T).toarray().ravel()
        return np.argsort(-scores, kind="stable")[:k]
    return rank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--description", default="title", help="the attribute (or field) an item is described by")
    parser.add_argument("--variant", help="the attribute that groups colour variants of a product")
    parser.add_argument("--queries-from", help="SPLITS.csv:SPLIT: queries from those items only")
    parser.add_argument("--descriptions", type=int, default=2000, help="description queries (a random sample, seed 0)")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()

    store = Store.open(args.store)
    items = store.items.reset_index(drop=True)
    chosen = np.ones(len(items), bool)
    if args.queries_from:
        path, split = args.queries_from.rsplit(":", 1)
        splits = pd.read_csv(path, dtype={"id": str})
        chosen = items["id"].isin(splits.loc[splits["split"] == split, "id"]).to_numpy()
    column = lambda name: items[name] if name in items.columns else items[f"attr:{name}"]  # noqa: E731
    described = column(args.description).fillna("").astype(str).to_numpy()
    variant = column(args.variant).astype(str).to_numpy() if args.variant else items["id"].to_numpy()
    kinds, colours = items["category"].astype(str).to_numpy(), items["colour"].astype(str).to_numpy()
    rows_of = {item: row for row, item in enumerate(items["id"])}

    def store_ranker(mode: str, prefer_named: bool = True):
        def rank(query: str, k: int) -> np.ndarray:
            try:
                found = store.search_results(query, k=k, mode=mode, prefer_named=prefer_named).matches
                return np.array([rows_of[x.id] for x in found], dtype=int)
            except SearchError:  # a query of only stop words: nothing found, and scored as such
                return np.array([], dtype=int)
        return rank

    rankers = {mode: store_ranker(mode) for mode in MODES}
    for mode in ("hybrid", "keywords"):  # the words alone: the colours and types they name are not preferred
        rankers[f"{mode} (words only)"] = store_ranker(mode, prefer_named=False)
    rankers["tf-idf (same texts)"] = tfidf_ranker(item_descriptions(items))
    rankers["tf-idf (title + description)"] = tfidf_ranker(
        [f"{t} {d}" if d != t else t for t, d in zip(items["title"].fillna("").astype(str), described, strict=True)])

    pairs = pair_queries(items, chosen)
    candidates = np.flatnonzero(chosen & (described != ""))
    sample = np.random.default_rng(0).choice(candidates, min(args.descriptions, len(candidates)), replace=False)
    categories = [c for c, n in pd.Series(kinds[chosen]).value_counts().items() if n >= 10 and c]
    report = {"store": str(args.store), "items": len(items), "pair_queries": len(pairs), "description_queries": len(sample),
              "category_queries": len(categories), "results": {}}
    for name, rank in rankers.items():
        started, times = time.perf_counter(), []
        both = []
        for colour, kind in pairs:
            t = time.perf_counter()
            found = rank(f"{colour} {kind}", args.k)
            times.append(time.perf_counter() - t)
            both.append(float(((kinds[found] == kind) & (colours[found] == colour)).mean()) if len(found) else 0.0)
        own = [float(variant[row] in set(variant[rank(described[row], args.k)])) for row in sample]
        reciprocal = []
        for kind in categories:
            found = rank(kind, 100)
            hits = np.flatnonzero(kinds[found] == kind)
            reciprocal.append(1.0 / (hits[0] + 1) if len(hits) else 0.0)
        report["results"][name] = {
            "colour_type_p10": round(float(np.mean(both)), 4),
            "colour_type_p10_interval": interval(both),
            "description_top10": round(float(np.mean(own)), 4),
            "description_top10_interval": interval(own),
            "category_mrr": round(float(np.mean(reciprocal)), 4),
            "pair_query_ms_p50": round(1000 * statistics.median(times), 2),
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(f"{name:30s} {json.dumps(report['results'][name])}", flush=True)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")


def interval(values: list[float], draws: int = 1000) -> list[float]:
    """A 95% bootstrap interval of the mean."""
    values = np.asarray(values, float)
    if not len(values):
        return [0.0, 0.0]
    means = np.random.default_rng(1).choice(values, (draws, len(values))).mean(axis=1)
    return [round(float(v), 4) for v in np.percentile(means, [2.5, 97.5])]


if __name__ == "__main__":
    main()
