"""Where an encoder's CPU time goes, by kind of layer (ONNX Runtime's profiler), and what int8 could gain at most.

1x1 convolutions, depthwise convolutions and the rest are timed on a batch of random pixels. The bound assumes
integer kernels ``--int8-speedup`` times faster than fp32 for the 1x1 and depthwise convolutions (about 2x on AVX2
without VNNI: ``vpmaddubsw`` does 32 multiply-adds where an fp32 FMA does 8 per instruction, but needs a second
instruction to widen) and no cost for quantising and dequantising between layers.

    python benchmarks/encoder_op_profile.py [--model src/dressup/models/fashion-mobilenetv2/model.onnx]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

MODEL = Path(__file__).resolve().parents[1] / "src" / "dressup" / "models" / "fashion-mobilenetv2" / "model.onnx"


def layer_kind(event: dict) -> str:
    op = event["args"].get("op_name", "?")
    if op not in ("Conv", "FusedConv"):
        return "other"
    shapes = [next(iter(shape.values())) for shape in event["args"].get("input_type_shape", [])]
    data, weight = shapes[0], shapes[1]
    if weight[1] == 1 and data[1] > 1:
        return "depthwise convolution"
    return "1x1 convolution" if weight[2] == 1 else "other convolution"


def profile(model: Path, batch: int, size: int, repeats: int, threads: int) -> dict[str, float]:
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.gettempdir()) / "dressup-encoder-profile")  # not in the working tree
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    pixels = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    for _ in range(repeats):
        session.run(None, {session.get_inputs()[0].name: pixels})
    trace = session.end_profiling()
    times = collections.Counter()
    for event in json.loads(Path(trace).read_text()):
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            times[layer_kind(event)] += event["dur"]
    os.remove(trace)
    total = sum(times.values())
    return {kind: value / total for kind, value in times.most_common()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--int8-speedup", type=float, default=2.0)
    args = parser.parse_args()
    shares = profile(args.model, args.batch, args.size, args.repeats, args.threads)
    for kind, share in shares.items():
        print(f"{kind:24s} {100 * share:5.1f}%")
    faster = ("1x1 convolution", "depthwise convolution")
    for kinds in (faster[:1], faster):
        left = sum(share / args.int8_speedup if kind in kinds else share for kind, share in shares.items())
        print(f"int8 at most {1 / left:.2f}x fp32 with {' and '.join(k.split()[0] for k in kinds)} convolutions "
              f"{args.int8_speedup:g}x faster")


if __name__ == "__main__":
    main()
