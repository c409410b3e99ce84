"""Checks of a store's files when it is opened: a damaged file is one `DamagedStoreError` that names it and says what
to do, never a traceback from deep inside NumPy, Arrow or FAISS.

The checks read headers and sizes, not whole files, so that opening a store of a million items stays quick.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import first_line
from .errors import DamagedStoreError
from .vectors import IndexConfig

GENERATION_NAME = re.compile(r"gen-\d{6,}")


def damaged(path: Path, problem: str, store: Path) -> DamagedStoreError:
    """The error for a damaged file of ``store``: the file, what is wrong, and how to recover."""
    return DamagedStoreError(f"{path}: {problem}. The store is damaged: restore it from a backup, or build it again "
                             f"with `dressup index CATALOG --store {store}`")


def read_checked(path: Path, read: Callable, store: Path):
    """What ``read()`` reads from ``path``, or a `DamagedStoreError` naming the file: the one translation of Arrow's,
    FAISS's, NumPy's and JSON's own errors about a file that is missing, cut short or of the wrong kind."""
    try:
        return read()
    except DamagedStoreError:
        raise
    except FileNotFoundError:
        raise damaged(path, "missing", store) from None
    except (OSError, ValueError, RuntimeError, KeyError, EOFError) as error:
        raise damaged(path, f"unreadable or cut short ({first_line(error)[:200]})", store) from None


def check_manifest(store: Path, file: Path, manifest) -> dict:
    """The manifest (read from ``file``), if it has the shape every reader relies on."""
    if not isinstance(manifest, dict):
        raise damaged(file, f"a JSON {type(manifest).__name__}, not the object a manifest is", store)
    generation = manifest.get("generation")
    if not isinstance(generation, str) or not GENERATION_NAME.fullmatch(generation):
        raise damaged(file, f"no current generation (found {generation!r}; a name such as 'gen-000001')", store)
    encoder = manifest.get("encoder")
    if not isinstance(encoder, dict) or not all(isinstance(encoder.get(key), str) for key in ("name", "fingerprint")):
        raise damaged(file, "no record of the encoder (its name and fingerprint)", store)
    dimension = manifest.get("dimension", 1)
    if not isinstance(dimension, int) or isinstance(dimension, bool) or dimension < 1:
        raise damaged(file, f"a dimension of {dimension!r}, not a positive whole number", store)
    if not isinstance(manifest.get("fusion", []), list) or not all(isinstance(p, dict) for p in manifest.get("fusion", [])):
        raise damaged(file, "a fusion entry that is not a list of parts", store)
    settings = manifest.get("index_config", {})
    if not isinstance(settings, dict):
        raise damaged(file, f"index_config is a {type(settings).__name__}, not an object of settings", store)
    try:
        IndexConfig.from_dict(settings).checked()
    except (TypeError, ValueError) as error:
        raise damaged(file, f"bad index_config ({error})", store) from None
    return manifest


def check_generation(store: Path, folder: Path, manifest: dict, rows: int) -> None:
    """The files of a generation whose items and index opened (``rows`` items): the embeddings and the encoder."""
    _check_matrix(store, folder / "embeddings.npy", rows)
    for number, part in enumerate(manifest.get("fusion", []), start=1):
        _check_matrix(store, folder / str(part.get("file", f"embeddings-part-{number}.npy")), rows)
    encoder = folder / "encoder"
    spec = encoder / "encoder.json"
    if not isinstance(read_checked(spec, lambda: json.loads(spec.read_bytes()), store), dict):
        raise damaged(spec, "not an encoder description (a JSON object)", store)
    model = encoder / "model.onnx"
    if not model.is_file() or model.stat().st_size == 0:
        raise damaged(model, "missing" if not model.is_file() else "empty", store)


def _check_matrix(store: Path, path: Path, rows: int) -> None:
    matrix = read_checked(path, lambda: np.load(path, mmap_mode="r"), store)
    if matrix.ndim != 2 or len(matrix) != rows:
        raise damaged(path, f"holds {matrix.shape[0] if matrix.ndim else 0:,} embeddings for {rows:,} items", store)
