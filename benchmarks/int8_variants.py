"""Can an int8 copy of the fashion encoder be 1.8x faster than fp32 on this CPU at <= 1 point of P@10?

Builds static (calibrated) int8 variants of the bundled fp32 model with ONNX Runtime's quantisation tools, all
per-channel, calibrated on Fashion Product Images `train` photos. It then measures each variant side by side with
fp32: throughput of the model alone on the same 256 photos (median of repeats), mean cosine of its embeddings to
the fp32 ones, and articleType P@10 (test queries, whole catalog as gallery; as in `fashion_encoder.py`).

    python benchmarks/int8_variants.py [--variants qdq qdq-7bit qdq-u8u8 qoperator] [--skip-p10]

On a CPU without VNNI (AVX2 only), ONNX Runtime's default u8s8 kernels can saturate (its documentation says so),
which corrupts the embedding; 7-bit weights (`reduce_range`) or unsigned weights avoid it at a cost in speed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from fashion_encoder import throughput  # a sibling script: its folder is on the path when run as a script

from dressup import Store, index_catalog
from dressup.encoders.image_encoder import ImageEncoder
from dressup.evaluation.retrieval import evaluate_retrieval, read_split_queries

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-product-images"
MODEL = Path(__file__).resolve().parents[1] / "src" / "dressup" / "models" / "fashion-mobilenetv2"
VARIANTS = ("qdq", "qdq-7bit", "qdq-u8u8", "qoperator")


def calibration_photos(data: Path, count: int) -> list[Path]:
    splits = pd.read_csv(data / "splits.csv", dtype=str)
    ids = splits.loc[splits["split"] == "train", "id"].tolist()
    photos = [data / "images" / f"{i}.jpg" for i in random.Random(0).sample(ids, min(count, len(ids)))]
    return [p for p in photos if p.exists()]


def calibration_batches(encoder: ImageEncoder, photos: list[Path], size: int = 16) -> list[np.ndarray]:
    """What the raw model (before the uint8 pixel wrapper) sees: pixels scaled by mean and std, float NCHW."""
    mean, std = np.asarray(encoder.spec.mean, np.float32), np.asarray(encoder.spec.std, np.float32)
    pixels = np.stack([encoder.preprocess(p) for p in photos]).astype(np.float32)
    scaled = ((pixels / 255.0 - mean) / std).transpose(0, 3, 1, 2)
    return [np.ascontiguousarray(scaled[i:i + size]) for i in range(0, len(scaled), size)]


def quantise(prepared: Path, spec, variant: str, batches: list[np.ndarray], folder: Path) -> ImageEncoder:
    """A static int8 copy of the prepared fp32 model, calibrated on ``batches``."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    name = onnx.load(str(prepared)).graph.input[0].name

    class Photos(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(batches)

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {name: batch}

    output, unsigned = folder / f"{variant}.onnx", variant == "qdq-u8u8"
    quantize_static(str(prepared), str(output), Photos(), per_channel=True, calibrate_method=CalibrationMethod.MinMax,
                    quant_format=QuantFormat.QOperator if variant == "qoperator" else QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8 if unsigned else QuantType.QInt8,
                    reduce_range=variant == "qdq-7bit", extra_options={"WeightSymmetric": not unsigned})
    return ImageEncoder(spec, output.read_bytes())


def article_type_p10(encoder: ImageEncoder, data: Path, folder: Path) -> float:
    store_path = folder / "store"
    index_catalog(data, store_path, encoder=encoder)
    store = Store.open(store_path)
    quality, _, _ = evaluate_retrieval(store, ["articleType"], k=10, query_rows=read_split_queries(store, data / "splits.csv",
                                                                                                   "test"))
    return quality.precision["articleType"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--calibration", type=int, default=300, help="train photos to calibrate on")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--skip-p10", action="store_true", help="throughput and cosine only (minutes instead of tens)")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/int8_variants.json"))
    args = parser.parse_args()
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32 = ImageEncoder.load(args.model)
    pixels = np.stack([fp32.preprocess(p) for p in sorted((args.data / "images").glob("*.jpg"))[:256]])
    reference = fp32.forward(pixels)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        prepared = folder / "fp32.prepared.onnx"
        quant_pre_process(str(args.model / "model.onnx"), str(prepared))
        batches = calibration_batches(fp32, calibration_photos(args.data, args.calibration))
        encoders = {"fp32": fp32, **{variant: quantise(prepared, fp32.spec, variant, batches,
                                                       folder) for variant in args.variants}}
        speeds: dict[str, list[float]] = {name: [] for name in encoders}
        for _ in range(3):  # interleaved rounds: a slow minute of the CPU hits every model alike
            for name, encoder in encoders.items():
                speeds[name].append(throughput(encoder, pixels, args.repeats))
        results = []
        for name, encoder in encoders.items():
            embedding = encoder.forward(pixels)
            cosine = np.sum(embedding * reference,
                            axis=1) / (np.linalg.norm(embedding, axis=1) * np.linalg.norm(reference, axis=1))
            result = {"model": name, "img_s": round(statistics.median(speeds[name]), 1),
                      "speed_vs_fp32": round(statistics.median(speeds[name]) / statistics.median(speeds["fp32"]), 2),
                      "cosine_to_fp32_mean": round(float(cosine.mean()), 4), "cosine_to_fp32_min": round(float(cosine.min()), 4)}
            if not args.skip_p10:
                with tempfile.TemporaryDirectory(dir=folder) as sub:
                    result["articleType_p10"] = round(article_type_p10(encoder, args.data, Path(sub)), 4)
            results.append(result)
            print(json.dumps(result), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
