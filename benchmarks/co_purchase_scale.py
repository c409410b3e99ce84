"""Co-purchase fitting at a shop's scale: time and peak memory of the blocked, capped co-purchase matrix against
the whole item x item product it replaced, on the same synthetic purchases.

The H&M sample has 926 customers, too few to show how the matrix grows, so the purchases are synthetic but shaped
like H&M's: basket sizes geometric with H&M's mean (31.8M transactions over 1.37M customers, 23 each), items drawn
from a Zipf law over a catalog the size of the sample's (11,800 articles). Each method runs in a child process, so
its peak resident memory (from the kernel) is its own; times are medians of ``--repeats`` runs.

    python benchmarks/co_purchase_scale.py --customers 50000 150000
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from child_process import run_python
from scipy import sparse

MEAN_BASKET = 23.0
ZIPF_EXPONENT = 0.8


def purchases(customers: int, items: int, seed: int = 0) -> sparse.csr_matrix:
    """Customers x items: 1 where the customer bought the item at least once."""
    rng = np.random.default_rng(seed)
    sizes = rng.geometric(1 / MEAN_BASKET, customers)
    chance = 1.0 / np.arange(1, items + 1) ** ZIPF_EXPONENT
    bought = rng.choice(items, sizes.sum(), p=chance / chance.sum())
    liked = sparse.csr_matrix((np.ones(len(bought)), (np.repeat(np.arange(customers), sizes), bought)), shape=(customers, items))
    liked.data[:] = 1.0
    return liked


def whole_product(liked: sparse.csr_matrix) -> sparse.csr_matrix:
    """The previous method: the full cosine-normalised item x item product, every pair kept."""
    together = (liked.T @ liked).tocsr()
    together.setdiag(0)
    together.eliminate_zeros()
    scale = sparse.diags(1.0 / (np.sqrt(np.asarray(liked.sum(axis=0)).ravel()) + 1e-12))
    return (scale @ together @ scale).tocsr()


def child(method: str, customers: int, items: int) -> None:
    from dressup.recommenders.signals import CO_PURCHASE_NEIGHBOURS, co_purchases

    liked = purchases(customers, items)
    began = time.perf_counter()
    methods = {"none": lambda: sparse.csr_matrix((0, 0)), "whole": lambda: whole_product(liked),
               "blocked": lambda: co_purchases(liked, CO_PURCHASE_NEIGHBOURS)}
    matrix = methods[method]()
    print(json.dumps({"seconds": time.perf_counter() - began, "pairs": int(matrix.nnz), "bought": int(liked.nnz)}))


def measure(method: str, customers: int, items: int) -> dict:
    """One run in a child process: its own seconds, item pairs kept and peak memory ("none" only draws the purchases)."""
    output, _, peak_mib = run_python(__file__, "--child", method, "--customers", str(customers), "--items", str(items))
    return {**json.loads(output.strip().splitlines()[-1]), "peak_mib": peak_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[50_000, 150_000])
    parser.add_argument("--items", type=int, default=11_800)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["none", "whole", "blocked"], help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "co_purchase_scale.json")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.customers[0], args.items)
    results = []
    for customers in args.customers:
        row = {"customers": customers}
        for method in ("none", "whole", "blocked"):
            runs = [measure(method, customers, args.items) for _ in range(args.repeats)]
            row["bought_pairs"] = runs[0]["bought"]
            row[method] = {"seconds": round(statistics.median(r["seconds"] for r in runs), 2), "pairs": runs[0]["pairs"],
                           "peak_mib": round(statistics.median(r["peak_mib"] for r in runs))}
        results.append(row)
        print(json.dumps(row), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
