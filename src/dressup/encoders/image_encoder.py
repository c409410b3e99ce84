"""Image encoder: an ONNX model plus the preprocessing that travels with it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from ..embeddings import normalize_rows
from ..images import ImageError, ImageInput, load_image, to_pixels
from .base import Encoder

SPEC_FILE = "encoder.json"
MODEL_FILE = "model.onnx"
INT8_MODEL_FILE = "model.int8.onnx"
PRECISIONS = {"fp32": MODEL_FILE, "int8": INT8_MODEL_FILE}


@dataclass(frozen=True)
class EncoderSpec:
    """What an encoder needs besides its weights: input size, normalisation and output dimension."""

    name: str
    dimension: int
    input_size: int
    resize_size: int | None = None  # resize to this, then centre-crop input_size (None: no crop)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    description: str = ""
    base_weights: str = ""
    licence: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> EncoderSpec:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("mean", "std"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


@dataclass(frozen=True)
class SearchChannel:
    """Label probabilities searched beside the embedding (``extra.search_channels`` in `encoder.json`).

    A channel is a head's probabilities, optionally summed into ``groups`` (one group name per class, e.g. the coarse
    product type of each fine one), unit-normalised and scaled by sqrt(``weight``), as fused parts are
    (`dressup.store.fusion`): a dot product of two photos' vectors adds ``weight`` x the cosine of their label
    distributions to the cosine of their embeddings. Two photos of one garment type then rank close even when one is a
    model shot and the other a packshot, whose embeddings differ more than their predicted types.
    """

    output: str
    weight: float
    groups: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict) -> SearchChannel:
        return cls(data["output"], float(data["weight"]), tuple(data.get("groups", ())))

    def dimension(self, session) -> int:
        if self.groups:
            return len(set(self.groups))
        (output,) = [o for o in session.get_outputs() if o.name == self.output]
        return int(output.shape[-1])

    @cached_property
    def membership(self) -> np.ndarray:
        """(classes, groups) ones where a class belongs to a group."""
        names = sorted(set(self.groups))
        membership = np.zeros((len(self.groups), len(names)), np.float32)
        membership[np.arange(len(self.groups)), [names.index(group) for group in self.groups]] = 1.0
        return membership

    def part(self, probabilities: np.ndarray) -> np.ndarray:
        if self.groups:
            probabilities = probabilities @ self.membership
        return normalize_rows(np.asarray(probabilities, np.float32)) * np.float32(np.sqrt(self.weight))


@dataclass
class EncodedBatch:
    """One batch of `ImageEncoder.encode_each`: rows for the images that worked, errors for the rest."""

    positions: list[int]
    vectors: np.ndarray
    failures: list[tuple[int, str]]


class ImageEncoder(Encoder):
    """Embeds product images with ONNX Runtime; ``encode(images) -> (n, dimension)`` float32.

    >>> encoder = create_encoder("mobilenetv2-imagenet")   # doctest: +SKIP
    >>> encoder.encode(["shirt.jpg"]).shape                # doctest: +SKIP
    (1, 1280)
    """

    kind = "image"

    def __init__(self, spec: EncoderSpec, model: bytes, threads: int | None = None, directory: Path | None = None):
        self.spec = spec
        self._model = model
        self.threads = threads or os.cpu_count() or 1
        self.directory = directory  # the model directory it was loaded from, if any
        self._session = self.session(self.runnable_model())
        self._input = self._session.get_inputs()[0].name
        outputs = [o.name for o in self._session.get_outputs()]
        self.output_names = outputs
        self._output = "embedding" if "embedding" in outputs else outputs[0]
        self.channels = [SearchChannel.from_dict(c) for c in spec.extra.get("search_channels", [])]

    def runnable_model(self) -> bytes:
        """The ONNX model as this encoder runs it: behind its uint8 NHWC ``images`` input."""
        return with_pixel_normalisation(self._model, self.spec.mean, self.spec.std)

    def session(self, model: bytes):
        """An ONNX Runtime session for ``model`` (this encoder's, or one derived from it) with this encoder's threads."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle ONNX Runtime threads must not spin: the decoding threads need those cycles
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dimension(self) -> int:
        return self.spec.dimension + sum(channel.dimension(self._session) for channel in self.channels)

    @property
    def fingerprint(self) -> str:
        """Identifies weights and preprocessing: stored vectors are reused only under the same one."""
        digest = hashlib.sha256(self._model)
        digest.update(repr((self.spec.input_size, self.spec.resize_size, self.spec.mean, self.spec.std)).encode())
        if self.channels:
            digest.update(repr([asdict(channel) for channel in self.channels]).encode())
        return digest.hexdigest()[:16]

    def item_inputs(self, items: pd.DataFrame) -> list:
        return items["image"].tolist()

    def item_keys(self, items: pd.DataFrame) -> list[tuple]:
        return list(zip(items["id"], items["image_hash"], strict=True))

    def preprocess(self, image: ImageInput) -> np.ndarray:
        """A (size, size, 3) uint8 array; scaling by mean and std happens inside the ONNX graph."""
        return preprocess(self.spec, image)

    def forward(self, pixels: np.ndarray) -> np.ndarray:
        """Run the model on an already preprocessed (n, size, size, 3) uint8 batch: the embedding, followed by the
        search channels when the model has them (`SearchChannel`)."""
        if not self.channels:
            return self._session.run([self._output], {self._input: pixels})[0]
        names = [self._output] + sorted({channel.output for channel in self.channels})
        results = dict(zip(names, self._session.run(names, {self._input: pixels}), strict=True))
        parts = [normalize_rows(results[self._output])] + [channel.part(results[channel.output]) for channel in self.channels]
        return np.concatenate(parts, axis=1)

    def run(self, pixels: np.ndarray, outputs: Sequence[str]) -> list[np.ndarray]:
        """Named outputs of the model (e.g. label probabilities) for a preprocessed batch."""
        return self._session.run(list(outputs), {self._input: pixels})

    def encode(self, images: Sequence[ImageInput], batch_size: int = 64, normalize: bool = True) -> np.ndarray:
        """Embed images; raises `ImageError` for the first one that cannot be read."""
        rows = []
        for batch in self.encode_each(images, batch_size=batch_size, normalize=normalize):
            if batch.failures:
                raise ImageError(batch.failures[0][1])
            rows.append(batch.vectors)
        return np.concatenate(rows) if rows else np.zeros((0, self.dimension), np.float32)

    def encode_each(
        self,
        images: Sequence[ImageInput],
        batch_size: int = 64,
        normalize: bool = True,
        workers: int = 2,
    ) -> Iterator[EncodedBatch]:
        """Embed images batch by batch, reporting unreadable ones instead of failing.

        Decoding and resizing run in a thread pool, a few batches ahead of the model, so the
        CPU spends its time in inference.
        """
        starts = range(0, len(images), batch_size)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque = deque()
            for start in starts:
                chunk = images[start : start + batch_size]
                pending.append((start, pool.map(self._try_preprocess, chunk)))
                if len(pending) > 2:
                    yield self._finish(*pending.popleft(), normalize)
            while pending:
                yield self._finish(*pending.popleft(), normalize)

    def _try_preprocess(self, image: ImageInput) -> np.ndarray | str:
        try:
            return self.preprocess(image)
        except ImageError as error:
            return str(error)

    def _finish(self, start: int, results: Iterable, normalize: bool) -> EncodedBatch:
        positions, arrays, failures = [], [], []
        for offset, result in enumerate(results):
            if isinstance(result, str):
                failures.append((start + offset, result))
            else:
                positions.append(start + offset)
                arrays.append(result)
        vectors = self.forward(np.stack(arrays)) if arrays else np.zeros((0, self.dimension), np.float32)
        if normalize:
            vectors = normalize_rows(vectors)
        return EncodedBatch(positions, vectors.astype(np.float32, copy=False), failures)

    def save(self, directory: str | Path) -> Path:
        """Write a self-describing model directory (`encoder.json` + `model.onnx`)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MODEL_FILE).write_bytes(self._model)
        spec = asdict(self.spec)
        stage = spec["extra"].get("colour_stage")  # a file the spec names travels with it (see `dressup.tagging`)
        if stage:
            source = self.directory / stage["file"] if self.directory else None
            if source is not None and source.is_file():
                shutil.copyfile(source, directory / stage["file"])
            else:
                del spec["extra"]["colour_stage"]
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path, threads: int | None = None, precision: str = "fp32") -> ImageEncoder:
        """Load a model directory; ``precision="int8"`` picks its quantised model."""
        directory = Path(directory)
        spec = EncoderSpec.from_dict(json.loads((directory / SPEC_FILE).read_text()))
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use fp32 or int8")
        if precision != "fp32":
            spec = replace(spec, name=f"{spec.name}-{precision}")
        return cls(spec, (directory / PRECISIONS[precision]).read_bytes(), threads=threads, directory=directory)


def preprocess(spec: EncoderSpec, image: ImageInput) -> np.ndarray:
    """The (input_size, input_size, 3) uint8 pixels an encoder with this spec sees."""
    return to_pixels(load_image(image, draft_size=spec.resize_size or spec.input_size), spec.input_size, spec.resize_size)


def with_pixel_normalisation(model: bytes, mean, std) -> bytes:
    """Put the model behind a uint8 NHWC input: cast, transpose and scale run in ONNX Runtime.

    Doing this in the graph instead of NumPy keeps the decoding threads light (about 1.5 ms less
    per image) and sends 4 times fewer bytes to the model.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load_from_string(model)
    graph = proto.graph
    original = graph.input[0]
    scale = (1.0 / (255.0 * np.asarray(std, np.float32))).reshape(1, 3, 1, 1)
    shift = (-np.asarray(mean, np.float32) / np.asarray(std, np.float32)).reshape(1, 3, 1, 1)
    graph.initializer.extend([numpy_helper.from_array(scale, "pixel_scale"), numpy_helper.from_array(shift, "pixel_shift")])
    prefix = [
        helper.make_node("Cast", ["images"], ["images_float"], to=TensorProto.FLOAT),
        helper.make_node("Transpose", ["images_float"], ["images_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Mul", ["images_nchw", "pixel_scale"], ["images_scaled"]),
        helper.make_node("Add", ["images_scaled", "pixel_shift"], [original.name]),
    ]
    nodes = prefix + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    graph.input.remove(original)
    graph.input.insert(0, helper.make_tensor_value_info("images", TensorProto.UINT8, ["batch", "height", "width", 3]))
    return proto.SerializeToString()
