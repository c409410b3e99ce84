"""Shop the look: the garments of a photo that shows several (a shirt with trousers, a dress with shoes and a bag),
each with its coarse type and its region, so that each can be searched on its own.

>>> finder = GarmentFinder(store.encoder)                                     # doctest: +SKIP
>>> finder.find(load_image("street.jpg"))                                     # doctest: +SKIP
[Garment(type='tops', box=(40, 12, 310, 260), confidence=0.91), Garment(type='trousers', ...)]

No detector is trained for it. The encoder's own type head is applied to each 32-pixel cell of its last feature map
(the network's class-activation map, one cell at a time), so every cell gets a coarse type; cells that hold little
of the network's activation are background. Connected cells of one type are a garment, and its box is theirs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from .encoders import ImageEncoder
from .errors import DressUpError

LOOK_SIDE = 448  # the photo's longer side as the network looks at it: 14 cells
CELL = 32  # pixels per feature-map cell (MobileNetV2's stride)
FOREGROUND = 0.35  # a cell with less than this share of the strongest cell's activation is background
MIN_SHARE = 0.06  # a garment holds at least this share of the foreground's activation ...
MIN_CELLS = 2  # ... and this many cells
MIN_CONFIDENCE = 0.3  # a garment's type is this likely at least (its cells' and its crop's probabilities, averaged)
SAME_REGION = 0.5  # a garment whose box overlaps a stronger one's this much (IoU) is the same one, read as another type
MARGIN = 0.08  # a garment's crop adds this share of its box on each side
PLAIN = 24  # a pixel differs from a plain background by more than this on some channel (0-255)
EMPTY = 0.002  # a plain photo with less than this share of pixels off its background shows nothing
UNTYPED = ("", "other")


class NoGarmentTypesError(DressUpError):
    """The store's encoder has no grouped product-type channel to tell garments apart with."""


@dataclass(frozen=True)
class Garment:
    """One garment of a photo: its coarse type, its box (x0, y0, x1, y1) in the photo's pixels, and how sure the
    type head is of it (its mean probability over the garment's cells)."""

    type: str
    box: tuple[int, int, int, int]
    confidence: float

    def crop(self, photo: Image.Image) -> Image.Image:
        """The garment cut from the photo, with a small margin."""
        x0, y0, x1, y1 = self.box
        dx, dy = (x1 - x0) * MARGIN, (y1 - y0) * MARGIN
        return photo.crop((max(0, int(x0 - dx)), max(0, int(y0 - dy)),
                           min(photo.width, int(x1 + dx)), min(photo.height, int(y1 + dy))))


class GarmentFinder:
    """Finds the garments of photos with an encoder whose search channels group its product types (`SearchChannel`)."""

    def __init__(self, encoder: ImageEncoder):
        channel = next((c for c in encoder.channels if c.groups), None)
        if channel is None:
            raise NoGarmentTypesError(f"encoder {encoder.name!r} has no grouped product-type channel, so it cannot tell "
                                      "the garments of a photo apart; index the store with the fashion encoder")
        self.types = sorted(set(channel.groups))
        self.membership = channel.membership
        self.output = channel.output
        self.features, model = cell_model(encoder.runnable_model())
        self.session = encoder.session(model)
        self.encoder = encoder

    def find(self, photo: Image.Image) -> list[Garment]:
        """The photo's garments, the most prominent first; none for a photo without one."""
        pixels, scale, offset, size = look_pixels(photo)
        probabilities, features = self.session.run([self.output, self.features], {"images": pixels[None]})
        rows, columns = features.shape[2:]
        types = (probabilities @ self.membership).reshape(rows, columns, len(self.types))
        strength = np.linalg.norm(features[0], axis=0)
        subject = plain_subject(pixels, offset, size)
        if subject is not None and subject.mean() < EMPTY:
            return []  # one plain colour, nothing on it
        regions = [(float(strength[cells].sum()), photo_box(cell_box(cells, subject), scale, offset, photo.size),
                    np.average(types[cells], axis=0, weights=strength[cells]))
                   for cells in garment_cells(types, strength, self.types)]
        if not regions:
            return []
        regions.sort(key=lambda region: -region[0])
        whole = functools.reduce(union, [box for _, box, _ in regions])
        *garments, single = self.typed([box for _, box, _ in regions] + [whole],
                                       [cells for _, _, cells in regions] + [None], photo)
        if single.confidence > max(g.confidence for g in garments):
            return [single] if single.confidence >= MIN_CONFIDENCE else []  # one garment, read more surely whole
        gap = CELL / scale
        kept: list[Garment] = []
        for garment in garments:
            if garment.confidence < MIN_CONFIDENCE:
                continue  # a texture or a gradient, read as a garment type with little conviction
            same = next((n for n, other in enumerate(kept)
                         if other.type == garment.type and touching(garment.box, other.box, gap)), None)
            if same is not None:  # one garment read in parts (a dress above and below its belt)
                confidence = max(kept[same].confidence, garment.confidence)
                kept[same] = Garment(garment.type, union(kept[same].box, garment.box), confidence)
            elif all(overlap(garment.box, other.box) <= SAME_REGION for other in kept):
                kept.append(garment)  # else two types were read in one region: the stronger stands
        return kept

    def typed(self, boxes: list[tuple[int, int, int, int]], cells: list[np.ndarray | None],
              photo: Image.Image) -> list[Garment]:
        """Garments of these regions, each typed by what its cells and the model looking at its crop alone agree on
        (by the crop alone for a region without cells)."""
        crops = np.stack([self.encoder.preprocess(Garment("", box, 0.0).crop(photo)) for box in boxes])
        (probabilities,) = self.encoder.run(crops, [self.output])
        grouped = probabilities @ self.membership
        grouped = np.stack([p if c is None else (p + c) / 2 for p, c in zip(grouped, cells, strict=True)])
        return [Garment(self.types[int(p.argmax())], box, round(float(p.max()), 4) * (self.types[int(p.argmax())] not in UNTYPED))
                for p, box in zip(grouped, boxes, strict=True)]


def touching(a, b, gap: int = 0) -> bool:
    """Whether two boxes overlap or meet."""
    return a[0] <= b[2] + gap and b[0] <= a[2] + gap and a[1] <= b[3] + gap and b[1] <= a[3] + gap


def union(a, b) -> tuple[int, int, int, int]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def overlap(a, b) -> float:
    """Intersection over union of two boxes."""
    width, height = max(0, min(a[2], b[2]) - max(a[0], b[0])), max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
    return width * height / union if union > 0 else 0.0


def garment_cells(types: np.ndarray, strength: np.ndarray, names: list[str]):
    """The cell mask of each garment: connected foreground cells whose most likely type is one."""
    foreground = strength >= FOREGROUND * strength.max() if strength.max() > 0 else np.zeros(strength.shape, bool)
    total = strength[foreground].sum()
    kinds = types.argmax(axis=-1)
    for kind in np.unique(kinds[foreground]):
        if names[kind] in UNTYPED:
            continue
        labels, count = ndimage.label(foreground & (kinds == kind), structure=np.ones((3, 3)))
        for number in range(1, count + 1):
            cells = labels == number
            if cells.sum() >= MIN_CELLS and strength[cells].sum() >= MIN_SHARE * total:
                yield cells


def cell_box(cells: np.ndarray, subject: np.ndarray | None) -> tuple[int, int, int, int]:
    """The look-pixel box of a set of feature-map cells, tightened to the subject's pixels where the background is
    plain. Cell j is centred on pixel 32 j (the network's stride-2 convolutions are padded), so it spans 32 j +- 16."""
    ys, xs = np.nonzero(cells)
    half = CELL // 2
    box = [xs.min() * CELL - half, ys.min() * CELL - half, (xs.max() + 1) * CELL - half, (ys.max() + 1) * CELL - half]
    if subject is not None:
        x0, y0 = max(0, box[0]), max(0, box[1])
        inside = subject[y0 : max(y0, box[3]), x0 : max(x0, box[2])]
        rows, columns = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
        if len(rows):
            box = [x0 + columns[0], y0 + rows[0], x0 + columns[-1] + 1, y0 + rows[-1] + 1]
    return tuple(int(v) for v in box)


def photo_box(box, scale: float, offset: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A look-pixel box in the photo's own pixels."""
    x0, y0 = (box[0] - offset[0]) / scale, (box[1] - offset[1]) / scale
    x1, y1 = (box[2] - offset[0]) / scale, (box[3] - offset[1]) / scale
    width, height = size
    return (int(max(0, x0)), int(max(0, y0)), int(min(width, round(x1))), int(min(height, round(y1))))


def plain_subject(pixels: np.ndarray, offset: tuple[int, int], size: tuple[int, int]) -> np.ndarray | None:
    """Where the photo differs from its background, when its border is one plain colour (a packshot, a studio wall);
    None for a busy background."""
    x0, y0 = offset
    photo = pixels[y0 : y0 + size[1], x0 : x0 + size[0]].astype(np.int16)
    border = np.concatenate([photo[0], photo[-1], photo[:, 0], photo[:, -1]])
    background = np.median(border, axis=0)
    if np.mean(np.abs(border - background).max(axis=1) > PLAIN) > 0.1:
        return None
    subject = np.zeros(pixels.shape[:2], bool)
    subject[y0 : y0 + size[1], x0 : x0 + size[0]] = np.abs(photo - background).max(axis=2) > PLAIN
    return subject


def look_pixels(photo: Image.Image) -> tuple[np.ndarray, float, tuple[int, int], tuple[int, int]]:
    """The photo at `LOOK_SIDE` on its longer side, centred on a white canvas of whole cells; its scale, offset and
    size there."""
    scale = LOOK_SIDE / max(photo.size)
    width, height = max(1, round(photo.width * scale)), max(1, round(photo.height * scale))
    canvas_size = (max(CELL, -(-width // CELL) * CELL), max(CELL, -(-height // CELL) * CELL))
    canvas = Image.new("RGB", canvas_size, (255, 255, 255))
    offset = ((canvas_size[0] - width) // 2, (canvas_size[1] - height) // 2)
    canvas.paste(photo.convert("RGB").resize((width, height), Image.BILINEAR), offset)
    return np.asarray(canvas), scale, offset, (width, height)


def cell_model(model: bytes) -> tuple[str, bytes]:
    """The feature map's name, and the model changed to apply its head to each cell of that map instead of to its
    average: each cell becomes one row of the outputs' batch (rows x columns rows for one photo)."""
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load_from_string(model)
    graph = proto.graph
    pools = [node for node in graph.node if node.op_type == "GlobalAveragePool"]
    if len(pools) != 1:
        raise NoGarmentTypesError("the encoder's model has no single global average pool to find garments with")
    pool = pools[0]
    features = pool.input[0]
    inferred = onnx.shape_inference.infer_shapes(proto).graph
    shapes = {v.name: v.type.tensor_type.shape for v in list(inferred.value_info) + list(inferred.output)}
    channels = shapes[features].dim[1].dim_value
    graph.initializer.append(numpy_helper.from_array(np.array([-1, channels, 1, 1], np.int64), "cell_shape"))
    cells = [helper.make_node("Transpose", [features], ["features_nhwc"], perm=[0, 2, 3, 1]),
             helper.make_node("Reshape", ["features_nhwc", "cell_shape"], ["cells"])]
    pool.input[0] = "cells"
    position = list(graph.node).index(pool)
    for number, node in enumerate(cells):
        graph.node.insert(position + number, node)
    graph.output.append(helper.make_tensor_value_info(features, onnx.TensorProto.FLOAT, None))
    return features, proto.SerializeToString()
