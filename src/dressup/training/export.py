"""Write a trained fashion encoder as a model directory: fp32 ONNX, dynamically quantised int8 ONNX, spec."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..encoders.convert import mobilenetv2_onnx
from ..encoders.image_encoder import INT8_MODEL_FILE, MODEL_FILE, SPEC_FILE, EncoderSpec
from ..tagging import COLOUR_STAGE_FILE, PROBABILITIES


def with_projection_and_heads(model, projection: np.ndarray, bias: np.ndarray, heads: dict[str, np.ndarray]):
    """Append projection + L2 normalisation (output ``embedding``) and a softmax per label head."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    for node in graph.node:
        node.output[:] = ["pooled_flat" if name == "embedding" else name for name in node.output]
    del graph.output[:]
    graph.initializer.extend([
        numpy_helper.from_array(projection.T.astype(np.float32), "projection_w"),
        numpy_helper.from_array(bias.astype(np.float32), "projection_b"),
    ])
    graph.node.extend([
        helper.make_node("Gemm", ["pooled_flat", "projection_w", "projection_b"], ["projected"]),
        helper.make_node("LpNormalization", ["projected"], ["embedding"], axis=1, p=2),
    ])
    graph.output.append(helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", projection.shape[0]]))
    for label, matrix in heads.items():
        graph.initializer.append(numpy_helper.from_array(matrix.astype(np.float32), f"head_{label}"))
        graph.node.extend([
            helper.make_node("MatMul", ["embedding", f"head_{label}"], [f"logits_{label}"]),
            helper.make_node("Softmax", [f"logits_{label}"], [PROBABILITIES + label], axis=1),
        ])
        graph.output.append(helper.make_tensor_value_info(PROBABILITIES + label, TensorProto.FLOAT, ["batch", matrix.shape[1]]))
    return model


def quantize_int8(fp32_path: Path, int8_path: Path) -> None:
    """Dynamic int8 quantisation (int8 weights, activations quantised on the fly) with ONNX Runtime.

    Only the fully connected layers (projection, heads) are quantised. Quantising the fine-tuned
    convolutions as well wrecks the embedding (cosine to fp32 about 0.1, per-tensor or per-channel),
    and on CPUs without AVX-512 VNNI ONNX Runtime's integer convolutions are 2-7 times *slower*
    than its fp32 ones (`benchmarks/fashion_encoder.py`, README "int8").
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QUInt8, op_types_to_quantize=["MatMul", "Gemm"])


def export_model_dir(net, imagenet_weights: dict[str, np.ndarray], spec: EncoderSpec, out_dir: Path, card: str) -> Path:
    """Write ``encoder.json``, ``model.onnx``, ``model.int8.onnx`` and ``README.md`` atomically."""
    weights = dict(imagenet_weights)
    weights.update(net.tail.export_weights())
    model = mobilenetv2_onnx(weights)
    projection = net.projection.weight.detach().cpu().numpy()
    bias = net.projection.bias.detach().cpu().numpy()
    model = with_projection_and_heads(model, projection, bias, net.head_matrices())
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / MODEL_FILE).write_bytes(model.SerializeToString())
    quantize_int8(staging / MODEL_FILE, staging / INT8_MODEL_FILE)
    (staging / SPEC_FILE).write_text(json.dumps(asdict(spec), indent=2))
    (staging / "README.md").write_text(card)
    if out_dir.exists():
        (out_dir / COLOUR_STAGE_FILE).unlink(missing_ok=True)  # fitted to the previous heads
        for name in (MODEL_FILE, INT8_MODEL_FILE, SPEC_FILE, "README.md"):
            os.replace(staging / name, out_dir / name)
        shutil.rmtree(staging)
    else:
        os.replace(staging, out_dir)
    return out_dir
