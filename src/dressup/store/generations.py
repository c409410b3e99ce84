"""A store's generations: immutable folders of items, embeddings and index, made current by an atomic manifest swap.

Layout::

    STORE/
      manifest.json      format version, library versions, encoder, dimension, counts, generation
      gen-000003/        the current base generation, never modified once written
        items.arrow      item table (see `dressup.catalog`) plus each image's content hash, read memory-mapped
                         (`dressup.store.table`; generations of earlier versions hold items.parquet)
        embeddings.npy   the encoder's normalised embeddings, one row per item (float16)
        projection.npz   PCA the index searches in (large catalogs only)
        index.faiss      nearest-neighbour index over the (projected) embeddings; beside it index.vectors.npy
                         (float16 copies, when the graph keeps 8-bit codes) and index.removed.npy (rows removed)
        encoder/         the encoder that made them (encoder.json + model.onnx)
        embeddings-part-N.npy, encoder-part-N/   fused embeddings, if any (see `dressup.store.fusion`)
      work/              embeddings of an interrupted `index` run, picked up by the next run

A write builds a new generation directory, then swaps ``manifest.json`` with an atomic rename, so
a crash at any point leaves the previous generation in use. Changes made since (single items added, changed or
removed) are not written here but to the catalog journal in the shop database (`dressup.store.journal`); the
manifest's ``journal_seq`` is the last change a generation holds already. A reader holds a shared lock on the
generation it uses (`GenerationLock`), and a generation is deleted only when no reader holds it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ..encoders import Encoder, ImageEncoder
from ..encoders.text_tower import item_descriptions
from ..files import atomic_write, disk_space, fsync_dir
from ..version import __version__
from .errors import StoreBusyError, StoreError
from .fusion import fuse
from .keywords import FOLDER as KEYWORDS_FOLDER
from .keywords import KeywordIndex
from .table import ItemTable, write_items
from .validation import check_manifest, damaged
from .vectors import IndexConfig, Projection, VectorIndex, create_index, load_index

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def read_manifest(path: Path) -> dict:
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        raise StoreError(f"{path}: not a DressUp store (no {MANIFEST}); create one with `dressup index`")
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise damaged(manifest_path, f"unreadable, not a manifest ({type(error).__name__}: {error})", Path(path)) from None
    version = manifest.get("format_version", 0) if isinstance(manifest, dict) else 0
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise StoreError(f"{path}: store format {version} is newer than this DressUp understands; upgrade DressUp")
    return check_manifest(Path(path), manifest_path, manifest)


def store_id(manifest: dict) -> str:
    """The store's identity, which its journal's changes carry; the same for every copy of the store (stores made
    before it was recorded get one from their creation time and encoder)."""
    if manifest.get("store_id"):
        return manifest["store_id"]
    seed = f"{manifest.get('created_at')}|{manifest.get('encoder', {}).get('fingerprint')}"
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


class GenerationLock:
    """A shared lock on a generation folder, held while a reader uses it: a generation is deleted only when no
    reader holds one (the kernel drops a killed process's locks)."""

    def __init__(self, folder: Path):
        self._descriptor: int | None = None
        self._descriptor = os.open(folder, os.O_RDONLY)  # FileNotFoundError when it is gone
        fcntl.flock(self._descriptor, fcntl.LOCK_SH)
        if not folder.is_dir():  # deleted between the open and the lock
            self.release()
            raise FileNotFoundError(folder)

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def __del__(self):
        self.release()


def remove_unused_generations(path: Path, keep: set[str]) -> list[str]:
    """Delete the generations other than ``keep`` that no reader holds; returns their names."""
    removed = []
    for old in sorted(path.glob("gen-*")):
        if old.name in keep or not old.is_dir() or old.name.endswith(".tmp"):
            continue
        try:
            descriptor = os.open(old, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a reader holds it
            os.close(descriptor)
            continue
        try:
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old.name)
        finally:
            os.close(descriptor)
    return removed


def read_item_ids(path: Path) -> pd.Index:
    """The ids of the current generation's items, read alone (cheap: no vectors, no index)."""
    manifest = read_manifest(path)
    try:
        ids = ItemTable.open(Path(path) / manifest["generation"]).column("id")
    except (OSError, ValueError, KeyError) as error:
        raise StoreError(f"{path}: generation {manifest['generation']} is damaged ({error})") from None
    return pd.Index(ids.astype(str), dtype=object)


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
    stored = IndexConfig.from_dict(manifest.get("index_config", {}))
    return stored == config and manifest.get("index", {}).get("kind") == config.resolve(count)


@dataclass
class StoredPart:
    """A fused embedding as written into a generation: its vectors and, for image parts, its encoder."""

    name: str
    kind: str  # "image" or "text"
    weight: float
    fingerprint: str
    vectors: np.ndarray
    encoder: ImageEncoder | None = None

    @classmethod
    def made_by(cls, encoder: Encoder, weight: float, vectors: np.ndarray) -> StoredPart:
        return cls(encoder.name, encoder.kind, weight, encoder.fingerprint, vectors, encoder if encoder.kind == "image" else None)

    def describe(self, number: int) -> dict:
        return {"encoder": self.name, "kind": self.kind, "weight": self.weight, "fingerprint": self.fingerprint,
                "dimension": int(self.vectors.shape[1]), "file": f"embeddings-part-{number}.npy"}


def write_generation(
    path: Path,
    items: pd.DataFrame,
    embeddings: np.ndarray,
    encoder: ImageEncoder,
    index_config: IndexConfig,
    details: dict,
    same_vectors_as: Path | None = None,
    parts: Sequence[StoredPart] = (),
    journal_seq: int | None = None,
    index: VectorIndex | None = None,
) -> dict:
    """Write a new generation and make it current; returns the new manifest. Call under `store_lock`.

    ``same_vectors_as`` names a generation holding these very embeddings in this order (only
    metadata changed): its projection and index are copied instead of being rebuilt. ``index`` is an index made
    already over these embeddings (a compaction's: the old graph with the new rows inserted). ``parts`` are fused
    embeddings searched together with the main one (see `dressup.store.fusion`). ``journal_seq`` is the last change of
    the catalog journal the generation holds (default: the previous generation's).
    """
    previous = read_manifest(path) if (path / MANIFEST).is_file() else {}
    current = previous.get("generation")
    # a run that crashed after renaming its generation but before the manifest swap left a folder
    # behind: number past every folder on disk, never into one
    numbers = [_generation_number(p.name) for p in path.glob("gen-*")] + [_generation_number(current or "gen-000000")]
    name = f"gen-{max(numbers) + 1:06d}"
    staging = path / f"{name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    swapped = False
    try:
        with disk_space(f"writing generation {name}", path):
            index, projection = _write_staging(staging, items, embeddings, encoder, index_config, same_vectors_as, parts,
                                               index)
            os.replace(staging, path / name)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            manifest = {
                "format": "dressup-store",
                "format_version": FORMAT_VERSION,
                "store_id": store_id(previous) if previous else uuid.uuid4().hex,
                "generation": name,
                "journal_seq": previous.get("journal_seq", 0) if journal_seq is None else journal_seq,
                "created_at": previous.get("created_at", now),
                "updated_at": now,
                "encoder": {**encoder.spec.__dict__, "fingerprint": encoder.fingerprint},
                "dimension": int(embeddings.shape[1]),
                "fusion": [part.describe(number) for number, part in enumerate(parts, start=1)],
                "fusion_main_weight": 1.0 - sum(part.weight for part in parts),
                "counts": {"items": len(items), **details.pop("counts", {})},
                "index": {"kind": index.kind, "vectors": len(index), "dimension": index.dimension,
                          "projection": projection is not None},
                "index_config": index_config.to_dict(),
                "versions": _versions(),
                **details,
            }
            atomic_write(path / MANIFEST, json.dumps(manifest, indent=2, default=str))
            swapped = True
    finally:
        if not swapped:  # nothing half-written stays behind: the manifest still names the previous generation
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(path / name, ignore_errors=True)
    remove_unused_generations(path, keep={name})  # stores still open on an older one hold it: it stays for them
    return manifest


def _write_staging(staging: Path, items: pd.DataFrame, embeddings: np.ndarray, encoder: ImageEncoder,
                   index_config: IndexConfig, same_vectors_as: Path | None, parts: Sequence[StoredPart],
                   index: VectorIndex | None) -> tuple[VectorIndex, Projection | None]:
    """Every file of a generation, into ``staging``, fsynced; returns its index and projection."""
    staging.mkdir(parents=True)
    write_items(staging, items)
    np.save(staging / "embeddings.npy", embeddings.astype(np.float16))
    searched = embeddings
    for number, part in enumerate(parts, start=1):
        np.save(staging / f"embeddings-part-{number}.npy", part.vectors.astype(np.float16))
        if part.encoder is not None:
            part.encoder.save(staging / f"encoder-part-{number}")
    if parts:
        main_weight = 1.0 - sum(part.weight for part in parts)
        searched = fuse([embeddings, *(p.vectors for p in parts)], [main_weight, *(p.weight for p in parts)])
    if index is not None:  # made already: the previous generation's projection goes with it
        index.save(staging / "index.faiss")
        if same_vectors_as is not None and (same_vectors_as / "projection.npz").is_file():
            shutil.copyfile(same_vectors_as / "projection.npz", staging / "projection.npz")
        projection = Projection.load(staging / "projection.npz") if (staging / "projection.npz").is_file() else None
    else:
        index, projection = _index_files(staging, searched, index_config, same_vectors_as)
    encoder.save(staging / "encoder")
    KeywordIndex.build(item_descriptions(items)).save(staging / KEYWORDS_FOLDER)
    _fsync_tree(staging)
    return index, projection


def _index_files(staging: Path, embeddings: np.ndarray, config: IndexConfig, same_vectors_as: Path | None):
    """Write projection.npz (if any) and index.faiss into ``staging``, reusing a generation's when allowed."""
    if same_vectors_as is not None:
        for name in ("projection.npz", "index.faiss", "index.vectors.npy", "index.removed.npy"):
            if (same_vectors_as / name).is_file():
                shutil.copyfile(same_vectors_as / name, staging / name)
        projection = Projection.load(staging / "projection.npz") if (staging / "projection.npz").is_file() else None
        return load_index(staging / "index.faiss", config), projection
    projection = Projection.for_catalog(embeddings, config)
    if projection is not None:
        projection.save(staging / "projection.npz")
    index: VectorIndex = create_index(projection.apply(embeddings) if projection is not None else embeddings, config)
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
