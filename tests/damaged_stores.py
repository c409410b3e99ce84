"""Ways a store's files get damaged: a disk that filled, a copy cut short, a hand edit, a wrong file put in place.

Shared by the tests and by `benchmarks/hardening.py`. ``DAMAGES[name](store)`` damages the store folder in place,
and ``name`` says what to expect: every case must give one clear message naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc


def _manifest(store: Path) -> Path:
    return store / "manifest.json"


def _generation(store: Path) -> Path:
    return store / json.loads(_manifest(store).read_text())["generation"]


def _edit_manifest(change: Callable[[dict], object]) -> Callable[[Path], None]:
    """A manifest changed in place by ``change``."""
    def damage(store: Path) -> None:
        manifest = json.loads(_manifest(store).read_text())
        change(manifest)
        _manifest(store).write_text(json.dumps(manifest))
    return damage


def _write(relative: str, data: bytes | Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def damage(store: Path) -> None:
        path = _generation(store) / relative
        path.write_bytes(data(path.read_bytes()) if callable(data) else data)
    return damage


def _delete(relative: str) -> Callable[[Path], None]:
    def damage(store: Path) -> None:
        (_generation(store) / relative).unlink()
    return damage


def _table(change: Callable[[pa.Table], pa.Table]) -> Callable[[Path], None]:
    def damage(store: Path) -> None:
        path = _generation(store) / "items.arrow"
        with pa.memory_map(str(path)) as source:
            table = pa.ipc.open_file(source).read_all()
        changed = change(table)
        os.unlink(path)  # the old file stays memory-mapped by nobody
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, changed.schema) as writer:
            writer.write_table(changed)
    return damage


def _duplicate_ids(table: pa.Table) -> pa.Table:
    ids = table.column("id").to_pylist()
    ids[1] = ids[0]
    return table.set_column(table.schema.get_field_index("id"), "id", pa.array(ids, pa.string()))


def _short_embeddings(store: Path) -> None:
    path = _generation(store) / "embeddings.npy"
    embeddings = np.load(path)
    np.save(path, embeddings[: len(embeddings) // 2])


RANDOM = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()

DAMAGES: dict[str, Callable[[Path], None]] = {
    "manifest missing": lambda store: _manifest(store).unlink(),
    "manifest empty": lambda store: _manifest(store).write_bytes(b""),
    "manifest of random bytes": lambda store: _manifest(store).write_bytes(RANDOM),
    "manifest cut short": lambda store: _manifest(store).write_bytes(_manifest(store).read_bytes()[:200]),
    "manifest a JSON list": lambda store: _manifest(store).write_text("[1, 2, 3]"),
    "manifest without generation": _edit_manifest(lambda m: m.pop("generation")),
    "generation an integer": _edit_manifest(lambda m: m.update(generation=7)),
    "generation of a missing folder": _edit_manifest(lambda m: m.update(generation="gen-999999")),
    "generation outside the store": _edit_manifest(lambda m: m.update(generation="../../etc")),
    "index_config not an object": _edit_manifest(lambda m: m.update(index_config="fast")),
    "index_config with a bad value": _edit_manifest(lambda m: m["index_config"].update(ef_search="fast")),
    "index_config of a bad kind": _edit_manifest(lambda m: m["index_config"].update(kind="btree", hnsw_m=-4)),
    "no encoder": _edit_manifest(lambda m: m.pop("encoder")),
    "encoder without its fingerprint": _edit_manifest(lambda m: m["encoder"].pop("fingerprint")),
    "format from a newer DressUp": _edit_manifest(lambda m: m.update(format_version=99)),
    "items.arrow missing": _delete("items.arrow"),
    "items.arrow of random bytes": _write("items.arrow", RANDOM),
    "items.arrow cut short": _write("items.arrow", lambda data: data[: len(data) // 2]),
    "items.arrow without an id column": _table(lambda table: table.drop_columns(["id"])),
    "items.arrow with duplicated ids": _table(_duplicate_ids),
    "index.faiss missing": _delete("index.faiss"),
    "index.faiss of random bytes": _write("index.faiss", RANDOM),
    "index.faiss cut short": _write("index.faiss", lambda data: data[: len(data) // 2]),
    "embeddings.npy cut short": _write("embeddings.npy", lambda data: data[: len(data) // 2]),
    "embeddings.npy of half the items": _short_embeddings,
    "encoder.json missing": _delete("encoder/encoder.json"),
    "encoder.json of random bytes": _write("encoder/encoder.json", RANDOM),
    "model.onnx cut short": _write("encoder/model.onnx", lambda data: data[: len(data) // 2]),
    "model.onnx missing": _delete("encoder/model.onnx"),
    "users database of random bytes": lambda store: (store / "users.sqlite").write_bytes(RANDOM * 4),
}
