"""Labelled product images for training: labels from the catalog, a train/val split and cached frozen layers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance

from ..catalog import CatalogSource, label_column, read_catalog, read_split, split_file_beside
from ..files import atomic_path
from ..images import ImageError, load_image, square_pad
from ..progress import SILENT, Progress


@dataclass
class LabelledImages:
    """Item ids, image paths, integer label codes (-1 = unknown) and the split of each item."""

    ids: np.ndarray
    images: list[str]
    codes: dict[str, np.ndarray]
    classes: dict[str, list[str]]
    split: np.ndarray  # "train", "val" or "test"

    def subset(self, rows: np.ndarray) -> LabelledImages:
        return LabelledImages(
            self.ids[rows],
            [self.images[i] for i in rows],
            {k: v[rows] for k, v in self.codes.items()},
            self.classes,
            self.split[rows],
        )

    def rows(self, *splits: str) -> np.ndarray:
        return np.flatnonzero(np.isin(self.split, splits))


def read_labelled_images(
    source: str | Path | CatalogSource,
    labels: Sequence[str],
    split_file: str | Path | None = None,
    val_share: float = 0.1,
    seed: int = 0,
) -> LabelledImages:
    """Read a catalog's items with their labels and split.

    The split comes from ``split_file`` (columns ``id, split``) or, for a folder that holds
    ``splits.csv``, from that file; otherwise a seeded random ``val_share`` of items is the
    validation set. Items marked ``test`` are kept apart and never trained on.
    """
    source = source if isinstance(source, CatalogSource) else CatalogSource(Path(source))
    items = read_catalog(source)
    split = _read_split(items["id"], source.path, split_file, val_share, seed)
    codes, classes = {}, {}
    for label in labels:  # classes: the values of train and val items; a value only test items have is not learnt
        values = label_column(items, label).astype(object)
        known = values.notna() & ~values.astype(str).str.strip().isin(["", "nan", "NA", "None"])
        names = values[known].astype(str).str.strip()
        order = names[split[known.to_numpy()] != "test"].value_counts().index.tolist()
        code = np.full(len(items), -1, np.int64)
        code[known.to_numpy()] = names.map({name: i for i, name in enumerate(order)}).fillna(-1).to_numpy()
        codes[label], classes[label] = code, order
    return LabelledImages(items["id"].to_numpy(), items["image"].tolist(), codes, classes, split)


def training_rows(data: LabelledImages, val_holdout: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows a model trains on and the rows it stops early on; ``val_holdout`` keeps only that many
    val items for stopping (a seeded choice) and trains on the others."""
    train_rows, val_rows = data.rows("train"), data.rows("val")
    if val_holdout is not None and val_holdout < len(val_rows):
        kept = np.random.default_rng(seed).permutation(len(val_rows))
        train_rows = np.sort(np.concatenate([train_rows, val_rows[kept[val_holdout:]]]))
        val_rows = np.sort(val_rows[kept[:val_holdout]])
    return train_rows, val_rows


def _read_split(ids: pd.Series, source: Path, split_file, val_share: float, seed: int) -> np.ndarray:
    split_file = split_file or split_file_beside(source)
    if split_file is None:
        rng = np.random.default_rng(seed)
        return np.where(rng.random(len(ids)) < val_share, "val", "train")
    return read_split(ids, split_file)


def augmented_pixels(path: str, size: int, resize: int | None, rng: np.random.Generator) -> np.ndarray:
    """A random view of a packshot: crop of 70-100% of the padded square, flip, mild light change.

    Hue is never changed: colour is one of the labels.
    """
    image = square_pad(load_image(path, draft_size=resize or size))
    side = image.size[0]
    crop = int(side * np.sqrt(rng.uniform(0.7, 1.0)))
    left, top = rng.integers(0, side - crop + 1, size=2)
    image = image.crop((int(left), int(top), int(left) + crop, int(top) + crop)).resize((size, size), Image.BILINEAR)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.85, 1.15))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.85, 1.15))
    return np.asarray(image)


def _file_stamp(path: str) -> tuple[int, int]:
    try:
        info = os.stat(path)
        return info.st_size, info.st_mtime_ns
    except OSError:
        return -1, -1


class FrozenFeatures:
    """Feature maps of the frozen first layers, computed once per image and view, cached on disk.

    View 0 is the plain evaluation preprocessing; later views are random augmentations.
    """

    def __init__(self, session, spec, cache_dir: Path, first_trained_block: int):
        self.session = session
        self.spec = spec
        self.cache_dir = cache_dir
        self.first_trained_block = first_trained_block

    def compute(self, images: list[str], views: int, seed: int, progress: Progress = SILENT) -> tuple[np.ndarray, np.ndarray]:
        """(views, n, C, H, W) float16 feature maps and a mask of readable images."""
        stamps = [_file_stamp(path) for path in images]
        key = hashlib.sha256(repr((images, stamps, views, seed, self.spec, self.first_trained_block)).encode()).hexdigest()[:16]
        path = self.cache_dir / f"frozen-{key}.npz"
        if path.is_file():
            cached = np.load(path)
            return cached["features"], cached["readable"]
        features, readable = self._run(images, views, seed, progress)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez(handle, features=features, readable=readable)
        return features, readable

    def _run(self, images, views, seed, progress):
        from ..encoders.image_encoder import preprocess

        spec = self.spec
        blank = np.full((spec.input_size, spec.input_size, 3), 255, np.uint8)
        readable = np.ones(len(images), bool)
        out = None

        def view(job):
            index, v = job
            try:
                if v == 0:
                    return preprocess(spec, images[index])
                return augmented_pixels(images[index], spec.input_size, spec.resize_size, np.random.default_rng((seed, index, v)))
            except ImageError:
                readable[index] = False
                return blank

        jobs = [(i, v) for v in range(views) for i in range(len(images))]
        with ThreadPoolExecutor(max_workers=2) as pool:
            for start in range(0, len(jobs), 64):
                chunk = jobs[start : start + 64]
                batch = np.stack(list(pool.map(view, chunk)))
                maps = self.session.run(None, {"images": batch})[0].astype(np.float16)
                if out is None:
                    out = np.zeros((views, len(images), *maps.shape[1:]), np.float16)
                for (index, v), fmap in zip(chunk, maps, strict=True):
                    out[v, index] = fmap
                progress.update("frozen layers", start + len(chunk), len(jobs))
        return out, readable
