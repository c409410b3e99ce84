"""Indexing throughput end to end (images/s) against the raw model forward pass, in one run.

End to end is `index_catalog` into an empty store: reading the table, hashing image files,
decoding and resizing, the model, and writing the index. The raw forward pass times the same
encoder on already decoded tensors, so the gap between the two is the pipeline's overhead.

    python benchmarks/indexing_throughput.py --images 3000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dressup import create_encoder, index_catalog

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-product-images"


def forward_throughput(encoder, images: list[str], batch_size: int) -> float:
    pixels = np.stack([encoder.preprocess(path) for path in images])
    encoder.forward(pixels[:batch_size])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(pixels), batch_size):
        encoder.forward(pixels[start : start + batch_size])
    return len(pixels) / (time.perf_counter() - started)


def end_to_end_throughput(encoder, catalog: Path, batch_size: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        report = index_catalog(catalog, Path(folder) / "store", encoder=encoder, batch_size=batch_size)
        return report.items / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="Fashion Product Images folder.")
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--encoder", default="fashion-mobilenetv2")
    parser.add_argument("--input-size", type=int, help="Override the encoder's input size.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/indexing_throughput.json"))
    args = parser.parse_args()

    styles = pd.read_csv(args.data / "styles.csv").head(args.images)
    styles["image"] = [str(args.data / "images" / f"{i}.jpg") for i in styles["id"]]
    encoder = create_encoder(args.encoder, **({"input_size": args.input_size} if args.input_size else {}))
    with tempfile.TemporaryDirectory() as folder:
        catalog = Path(folder) / "catalog.csv"
        styles.to_csv(catalog, index=False)
        forward, end_to_end = [], []
        for repeat in range(args.repeats):
            forward.append(forward_throughput(encoder, styles["image"].tolist()[:1000], args.batch_size))
            end_to_end.append(end_to_end_throughput(encoder, catalog, args.batch_size))
            print(f"run {repeat + 1}: forward {forward[-1]:.1f} img/s, end to end {end_to_end[-1]:.1f} img/s", flush=True)
    result = {
        "encoder": args.encoder,
        "input_size": encoder.spec.input_size,
        "images": len(styles),
        "batch_size": args.batch_size,
        "forward_img_s_median": round(statistics.median(forward), 1),
        "end_to_end_img_s_median": round(statistics.median(end_to_end), 1),
        "end_to_end_share_of_forward": round(statistics.median(end_to_end) / statistics.median(forward), 3),
        "runs": {"forward": [round(x, 1) for x in forward], "end_to_end": [round(x, 1) for x in end_to_end]},
    }
    print(json.dumps(result, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
