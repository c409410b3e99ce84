"""Compare the built-in encoders on retrieval quality and indexing speed, in one run.

Each configuration indexes the whole Fashion Product Images catalog into a fresh store
(end-to-end images/s) and scores every product's 10 most similar products (P@10 of articleType,
baseColour and both). This is how the default encoder was picked.

    python benchmarks/compare_encoders.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from dressup import Store, create_encoder, index_catalog
from dressup.evaluation.retrieval import evaluate_retrieval

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-product-images"

CONFIGS = {
    "mobilenetv2-imagenet (default: 224 -> crop 192)": ("mobilenetv2-imagenet", {}),
    "mobilenetv2-imagenet at 224": ("mobilenetv2-imagenet", {"input_size": 224, "resize_size": None}),
    "mobilenetv2-imagenet at 192": ("mobilenetv2-imagenet", {"input_size": 192, "resize_size": None}),
    "efficientnet-lite0-imagenet at 224": ("efficientnet-lite0-imagenet", {}),
    "efficientnet-lite0-imagenet 224 -> crop 192": ("efficientnet-lite0-imagenet", {"input_size": 192, "resize_size": 224}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--only", nargs="*", help="Run only configurations whose name contains one of these.")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/compare_encoders.json"))
    args = parser.parse_args()

    results = []
    for label, (name, preprocessing) in CONFIGS.items():
        if args.only and not any(part in label for part in args.only):
            continue
        encoder = create_encoder(name, **preprocessing)
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            report = index_catalog(args.data, Path(folder) / "store", encoder=encoder)
            seconds = time.perf_counter() - started
            quality, _, _ = evaluate_retrieval(Store.open(Path(folder) / "store"), ["articleType", "baseColour"], k=10)
        result = {
            "encoder": label,
            "input": f"{encoder.spec.resize_size or encoder.spec.input_size} -> {encoder.spec.input_size}",
            "end_to_end_img_s": round(report.items / seconds, 1),
            **{f"P@10 {key}": round(value, 4) for key, value in quality.precision.items()},
        }
        results.append(result)
        print(json.dumps(result), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
