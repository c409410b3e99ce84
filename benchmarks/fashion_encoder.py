"""The fine-tuned fashion encoder against the ImageNet one, side by side in one run.

For each encoder (ImageNet baseline, fashion fp32, fashion int8):
- Fashion Product Images: index the whole catalog, queries = the test products of splits.csv,
  gallery = everything: P@10 of articleType, baseColour and both.
- H&M (never trained on): index all articles, every article queries: P@10 of product_type_name,
  colour_group_name and both.
- Throughput of the model alone on a fixed batch of real images (median of repeats), so int8
  and fp32 are compared on the same pixels.

    python benchmarks/fashion_encoder.py [--model src/dressup/models/fashion-mobilenetv2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from dressup import Store, create_encoder, index_catalog
from dressup.evaluation.retrieval import evaluate_retrieval, read_split_queries

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MODEL = Path(__file__).resolve().parents[1] / "src" / "dressup" / "models" / "fashion-mobilenetv2"


def throughput(encoder, pixels: np.ndarray, repeats: int) -> float:
    """Images per second of the model alone on already preprocessed pixels (median of ``repeats``)."""
    encoder.forward(pixels[:8])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        encoder.forward(pixels)
        times.append(time.perf_counter() - started)
    return len(pixels) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="Run only encoders whose name contains one of these.")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/fashion_encoder.json"))
    args = parser.parse_args()

    fpi, hm = args.data / "fashion-product-images", args.data / "hm-sample"
    sample = sorted((fpi / "images").glob("*.jpg"))[:256]
    encoders = {
        "mobilenetv2-imagenet": lambda: create_encoder("mobilenetv2-imagenet"),
        "fashion fp32": lambda: create_encoder(args.model),
        "fashion int8": lambda: create_encoder(args.model, precision="int8"),
    }
    results = []
    for label, make in encoders.items():
        if args.only and not any(part in label for part in args.only):
            continue
        encoder = make()
        result = {"encoder": label, "model_img_s": round(throughput(encoder, np.stack([encoder.preprocess(p) for p in sample]),
                                                                    args.repeats), 1)}
        with tempfile.TemporaryDirectory() as folder:
            store_path = Path(folder) / "fpi"
            index_catalog(fpi, store_path, encoder=encoder)
            store = Store.open(store_path)
            queries = read_split_queries(store, fpi / "splits.csv", "test")
            quality, _, _ = evaluate_retrieval(store, ["articleType", "baseColour"], k=10, query_rows=queries)
            result.update({f"FPI test P@10 {k}": round(v, 4) for k, v in quality.precision.items()})
            store_path = Path(folder) / "hm"
            index_catalog(hm, store_path, encoder=encoder)
            quality, _, _ = evaluate_retrieval(Store.open(store_path), ["product_type_name", "colour_group_name"], k=10)
            result.update({f"H&M P@10 {k}": round(v, 4) for k, v in quality.precision.items()})
        results.append(result)
        print(json.dumps(result), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
