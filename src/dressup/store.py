"""The store: a self-describing directory holding a catalog's items, embeddings, index and encoder.

Layout::

    STORE/
      manifest.json      format version, library versions, encoder, dimension, counts, generation
      gen-000003/        the current generation, never modified once written
        items.parquet    item table (see `dressup.catalog`) plus each image's content hash
        embeddings.npy   the encoder's normalised embeddings, one row per item (float16)
        projection.npz   PCA the index searches in (large catalogs only)
        index.faiss      nearest-neighbour index over the (projected) embeddings
        encoder/         the encoder that made them (encoder.json + model.onnx)
        embeddings-part-N.npy, encoder-part-N/   fused embeddings, if any (see `dressup.fusion`)
      work/              embeddings of an interrupted `index` run, picked up by the next run

A write builds a new generation directory, then swaps ``manifest.json`` with an atomic rename, so
a crash at any point leaves the previous generation in use.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .catalog import Item
from .encoders import ImageEncoder
from .errors import DressUpError
from .files import atomic_write, fsync_dir
from .filters import FilterIndex, Filters
from .fusion import fuse
from .images import ImageInput
from .index import IndexConfig, Projection, VectorIndex, pad_results

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class StoreError(DressUpError, ValueError):
    """A store that does not exist or cannot be opened."""


class StoreBusyError(StoreError):
    """Another process holds the store's writer lock."""


class UnknownItemError(DressUpError, KeyError):
    """An item id that the store does not hold."""

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class Match:
    """One search result: the item's id, its similarity score and its row in the store."""

    id: str
    score: float
    row: int


class Store:
    """An opened store: ``Store.open(path).similar(item="15970", k=10)``."""

    def __init__(self, path: Path, manifest: dict, items: pd.DataFrame, index: VectorIndex, projection: Projection | None):
        self.path = path
        self.manifest = manifest
        self.items = items
        self.index = index
        self.projection = projection
        self.vectors = index.vectors  # what the index searches: projected when there is a projection
        self.filter_index = FilterIndex(items)
        self._ids = items["id"].to_numpy(dtype=object)
        self._ids.flags.writeable = False
        self._id_index = pd.Index(self._ids, dtype=object)  # ids are unique: a hash lookup, one id or many
        self._encoder: ImageEncoder | None = None
        self._part_encoders: dict[int, ImageEncoder] = {}
        self.fusion: list[dict] = manifest.get("fusion", [])

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> Store:
        path = Path(path)
        for attempt in range(2):
            manifest = read_manifest(path)
            generation = path / manifest["generation"]
            try:
                items = pd.read_parquet(generation / "items.parquet")
                index = VectorIndex.load(generation / "index.faiss", IndexConfig(**manifest.get("index_config", {})))
                projection = Projection.load(generation / "projection.npz") if (generation / "projection.npz").is_file() else None
                break
            except (OSError, ValueError, RuntimeError) as error:
                if attempt == 0 and read_manifest(path)["generation"] != manifest["generation"]:
                    continue  # a writer swapped generations while we read: read the new one
                raise StoreError(f"{path}: generation {manifest['generation']} is damaged ({error})") from None
        if len(index) != len(items):
            raise StoreError(f"{path}: generation {manifest['generation']} is damaged ({len(index)} vectors for {len(items)} items)")
        return cls(path, manifest, items, index, projection)

    @property
    def generation_path(self) -> Path:
        return self.path / self.manifest["generation"]

    def embeddings(self) -> np.ndarray:
        """The encoder's embeddings of every item (memory-mapped, float16), as reused by `index`."""
        return np.load(self.generation_path / "embeddings.npy", mmap_mode="r")

    def part_embeddings(self, number: int) -> np.ndarray:
        """The embeddings of fused part ``number`` (1, 2, ...; see `dressup.fusion`)."""
        return np.load(self.generation_path / self.fusion[number - 1]["file"], mmap_mode="r")

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Query vectors for photos, in the space the index searches."""
        vectors = self.encoder.encode(images)
        if self.fusion:
            vectors = self._fuse_query(vectors, images)
        return self.projection.apply(vectors) if self.projection is not None else vectors

    def _fuse_query(self, main: np.ndarray, images: Sequence[ImageInput]) -> np.ndarray:
        """A photo's fused vector: image parts embedded, text parts set to the catalog's average
        (after centring they weigh nothing, so the photo is ranked by its image parts alone)."""
        parts, weights, text_slices = [main], [self.manifest["fusion_main_weight"]], []
        offset = main.shape[1]
        for number, part in enumerate(self.fusion, start=1):
            if part["kind"] == "image":
                parts.append(self._part_encoder(number).encode(images))
            else:
                parts.append(np.ones((len(main), part["dimension"]), np.float32))
                text_slices.append(slice(offset, offset + part["dimension"]))
            weights.append(part["weight"])
            offset += part["dimension"]
        fused = fuse(parts, weights)
        for columns in text_slices:
            fused[:, columns] = self.projection.mean[columns] if self.projection is not None else 0.0
        return fused

    def _part_encoder(self, number: int) -> ImageEncoder:
        if number not in self._part_encoders:
            self._part_encoders[number] = ImageEncoder.load(self.generation_path / f"encoder-part-{number}")
        return self._part_encoders[number]

    @property
    def encoder(self) -> ImageEncoder:
        """The encoder the store's vectors were made with (loaded on first use)."""
        if self._encoder is None:
            self._encoder = ImageEncoder.load(self.generation_path / "encoder")
        return self._encoder

    # -- items -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> np.ndarray:
        """Every item's id, by row (read-only)."""
        return self._ids

    def __contains__(self, item_id: str) -> bool:
        return str(item_id) in self._id_index

    def row(self, item_id: str) -> int:
        try:
            return int(self._id_index.get_loc(str(item_id)))
        except KeyError:
            raise UnknownItemError(f"unknown item id {item_id!r}: the store has no such item") from None

    def rows_of(self, item_ids) -> np.ndarray:
        """Rows of many ids at once; -1 for ids the store does not hold."""
        return self._id_index.get_indexer(pd.Index(item_ids, dtype=object).astype(str)).astype(np.int64)

    def item(self, item_id: str) -> Item:
        return Item.from_row(self.items.iloc[self.row(item_id)].to_dict())

    # -- search ------------------------------------------------------------------------------
    def similar(
        self,
        query: str | ImageInput | None = None,
        k: int = 10,
        filters: Filters | None = None,
        *,
        item: str | None = None,
        image: ImageInput | None = None,
    ) -> list[Match]:
        """The k items most similar to a stored item or to an image, best first.

        ``query`` is an item id when the store has one by that name, otherwise an image
        (path, bytes or PIL image); ``item=`` and ``image=`` say which explicitly.
        """
        if query is not None:
            if item is not None or image is not None:
                raise ValueError("give a query, or item=, or image=, not several")
            is_id = isinstance(query, str) and (query in self or not Path(query).exists())
            item, image = (query, None) if is_id else (None, query)
        if (item is None) == (image is None):
            raise ValueError("give exactly one of item or image")
        if item is not None:
            row = self.row(item)
            query, exclude = self.vectors[row], row
        else:
            query, exclude = self.embed_images([image])[0], -1
        rows, scores = self.search(query[None, :], k, filters, exclude=[exclude])
        return self._matches(rows[0], scores[0])

    def similar_all(self, k: int = 10, filters: Filters | None = None, batch_size: int = 1024) -> Iterator[tuple[str, list[Match]]]:
        """Every item's k most similar items (the item itself excluded), for precomputed product pages."""
        for start in range(0, len(self), batch_size):
            rows = np.arange(start, min(start + batch_size, len(self)))
            found, scores = self.search(self.vectors[rows], k, filters, exclude=list(rows))
            for row, r, s in zip(rows, found, scores):
                yield self._ids[row], self._matches(r, s)

    def search(
        self, queries: np.ndarray, k: int, filters: Filters | None = None, exclude: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of the k best items per query; ``exclude[i]`` is a row to leave out of query i."""
        allowed = self.filter_index.mask(filters)
        extra = 1 if exclude is not None else 0
        rows, scores = self.index.search(queries, k + extra, allowed)
        if exclude is None:
            return rows, scores
        # drop each query's excluded row, or else its last result
        hits = rows == np.asarray(exclude)[:, None]
        drop = np.where(hits.any(axis=1), hits.argmax(axis=1), rows.shape[1] - 1)
        keep = np.ones(rows.shape, bool)
        keep[np.arange(len(rows)), drop] = False
        width = rows.shape[1] - 1
        rows, scores = rows[keep].reshape(len(rows), width), scores[keep].reshape(len(rows), width)
        return pad_results(rows, scores, k)  # a catalog smaller than k + 1 items gives fewer

    def _matches(self, rows: np.ndarray, scores: np.ndarray) -> list[Match]:
        return [Match(self._ids[r], float(s), int(r)) for r, s in zip(rows.tolist(), scores.tolist()) if r >= 0]


# -- reading and writing generations ---------------------------------------------------------

def read_manifest(path: Path) -> dict:
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise StoreError(f"{path}: not a DressUp store (no {MANIFEST}); create one with `dressup index`")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise StoreError(f"{manifest_path}: unreadable manifest ({error})") from None
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise StoreError(f"{path}: store format {manifest['format_version']} is newer than this DressUp understands")
    return manifest


@contextmanager
def store_lock(path: Path, wait: float = 0.0):
    """One writer at a time per store; waits up to ``wait`` seconds for another writer to finish."""
    path.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    with open(path / ".lock", "w") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreBusyError(f"{path}: another process is writing this store") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def index_fits(manifest: dict, config: IndexConfig, count: int) -> bool:
    """Whether a generation's index was built as ``config`` builds one for ``count`` items, so it can be reused
    (not when the catalog has grown past `HNSW_THRESHOLD`, or a DressUp with another threshold built it)."""
    return manifest.get("index_config") == config.__dict__ and manifest.get("index", {}).get("kind") == config.resolve(count)


def write_generation(
    path: Path,
    items: pd.DataFrame,
    embeddings: np.ndarray,
    encoder: ImageEncoder,
    index_config: IndexConfig,
    details: dict,
    same_vectors_as: Path | None = None,
    parts: Sequence[StoredPart] = (),
) -> dict:
    """Write a new generation and make it current; returns the new manifest. Call under `store_lock`.

    ``same_vectors_as`` names a generation holding these very embeddings in this order (only
    metadata changed): its projection and index are copied instead of being rebuilt. ``parts``
    are fused embeddings searched together with the main one (see `dressup.fusion`).
    """
    previous = read_manifest(path) if (path / MANIFEST).is_file() else {}
    current = previous.get("generation")
    # a run that crashed after renaming its generation but before the manifest swap left a folder
    # behind: number past every folder on disk, never into one
    numbers = [_generation_number(p.name) for p in path.glob("gen-*")] + [_generation_number(current or "gen-000000")]
    name = f"gen-{max(numbers) + 1:06d}"
    staging = path / f"{name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    items.reset_index(drop=True).to_parquet(staging / "items.parquet", index=False)
    np.save(staging / "embeddings.npy", embeddings.astype(np.float16))
    searched = embeddings
    main_weight = 1.0 - sum(part.weight for part in parts)
    for number, part in enumerate(parts, start=1):
        np.save(staging / f"embeddings-part-{number}.npy", part.vectors.astype(np.float16))
        if part.encoder is not None:
            part.encoder.save(staging / f"encoder-part-{number}")
    if parts:
        searched = fuse([embeddings, *(p.vectors for p in parts)], [main_weight, *(p.weight for p in parts)])
    index, projection = _index_files(staging, searched, index_config, same_vectors_as)
    encoder.save(staging / "encoder")
    _fsync_tree(staging)
    os.replace(staging, path / name)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = {
        "format": "dressup-store",
        "format_version": FORMAT_VERSION,
        "generation": name,
        "created_at": previous.get("created_at", now),
        "updated_at": now,
        "encoder": {**encoder.spec.__dict__, "fingerprint": encoder.fingerprint},
        "dimension": int(embeddings.shape[1]),
        "fusion": [part.describe(number) for number, part in enumerate(parts, start=1)],
        "fusion_main_weight": main_weight,
        "counts": {"items": len(items), **details.pop("counts", {})},
        "index": {"kind": index.kind, "vectors": len(index), "dimension": index.dimension, "projection": projection is not None},
        "index_config": index_config.__dict__,
        "versions": _versions(),
        **details,
    }
    atomic_write(path / MANIFEST, json.dumps(manifest, indent=2, default=str))
    # keep the generation just replaced: stores opened before the swap go on reading it
    for old in path.glob("gen-*"):
        if old.name not in (name, current):
            shutil.rmtree(old, ignore_errors=True)
    return manifest


@dataclass
class StoredPart:
    """A fused embedding as written into a generation: its vectors and, for image parts, its encoder."""

    name: str
    kind: str  # "image" or "text"
    weight: float
    fingerprint: str
    vectors: np.ndarray
    encoder: ImageEncoder | None = None

    def describe(self, number: int) -> dict:
        return {"encoder": self.name, "kind": self.kind, "weight": self.weight, "fingerprint": self.fingerprint,
                "dimension": int(self.vectors.shape[1]), "file": f"embeddings-part-{number}.npy"}


def _index_files(staging: Path, embeddings: np.ndarray, config: IndexConfig, same_vectors_as: Path | None):
    """Write projection.npz (if any) and index.faiss into ``staging``, reusing a generation's when allowed."""
    if same_vectors_as is not None:
        for name in ("projection.npz", "index.faiss"):
            if (same_vectors_as / name).is_file():
                shutil.copyfile(same_vectors_as / name, staging / name)
        projection = Projection.load(staging / "projection.npz") if (staging / "projection.npz").is_file() else None
        return VectorIndex.load(staging / "index.faiss", config), projection
    projection = Projection.for_catalog(embeddings, config)
    if projection is not None:
        projection.save(staging / "projection.npz")
    index = VectorIndex(projection.apply(embeddings) if projection is not None else embeddings, config)
    index.save(staging / "index.faiss")
    return index, projection


def _generation_number(name: str) -> int:
    try:
        return int(name.split("-")[1].split(".")[0])
    except (IndexError, ValueError):
        return 0


def _fsync_tree(directory: Path) -> None:
    for file in directory.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
    fsync_dir(directory)


def _versions() -> dict:
    import faiss
    import onnxruntime

    return {"dressup": __version__, "numpy": np.__version__, "faiss": faiss.__version__, "onnxruntime": onnxruntime.__version__}
