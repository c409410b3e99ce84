"""`index_catalog`: bring a store in line with a catalog, embedding only what changed.

Items whose image content and encoder are unchanged keep their vectors; new and changed images
are embedded; items gone from the catalog leave the store. Embeddings are checkpointed to
``STORE/work`` as they are made, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import shutil
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import Catalog, CatalogSource, read_items
from ..encoders import DEFAULT_ENCODER, Encoder, ImageEncoder, create_encoder
from ..errors import DressUpError
from ..files import disk_space
from ..images import content_hash
from ..progress import SILENT, Progress
from .fusion import FusionPart
from .generations import MANIFEST, StoredPart, index_fits, store_id, store_lock, write_generation
from .journal import PUT, REMOVE, Journal
from .store import Store
from .vectors import IndexConfig

WORK_DIR = "work"
JOURNAL_SHARE = 0.05  # a re-run changing at most this share of the items (or `JOURNAL_MIN`) writes journal entries
JOURNAL_MIN = 1_000


@dataclass
class IndexReport:
    """What an `index_catalog` run did."""

    items: int = 0
    added: int = 0
    updated_images: int = 0
    removed: int = 0
    unchanged: int = 0
    encoder_changed: bool = False
    embedded: int = 0
    resumed: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    seconds_embedding: float = 0.0
    generation: str = ""
    layout: str = ""
    journaled: int | None = None  # changes written to the catalog journal, when no new generation was needed

    @property
    def images_per_second(self) -> float:
        return self.embedded / self.seconds_embedding if self.seconds_embedding else 0.0


def index_catalog(
    source: Catalog | CatalogSource | str | Path,
    store_path: str | Path,
    encoder: str | ImageEncoder | None = None,
    index_config: IndexConfig | None = None,
    batch_size: int = 64,
    checkpoint_every: int = 1024,
    progress: Progress = SILENT,
    fusion: list[FusionPart] | None = None,
    database_url: str | None = None,
) -> IndexReport:
    """Create or update the store at ``store_path`` from a catalog; returns what changed.

    A few changes (at most `JOURNAL_SHARE` of the items) go into the catalog journal, as live edits do; more, or
    another encoder, index or fusion, make a new base generation. ``fusion`` lists extra embeddings searched with the
    main one (`dressup.store.fusion`); None keeps the store's current ones, ``[]`` drops them. ``progress`` hears of
    the "embedding" step. ``database_url``: the shop database that holds the journal (default: STORE/users.sqlite).
    """
    store_path = Path(store_path)
    index_config = index_config or IndexConfig()
    if isinstance(source, Catalog):
        catalog, source, layout = source.items.copy(), source.source, source.layout
    else:
        source = source if isinstance(source, CatalogSource) else CatalogSource(Path(source))
        chosen, catalog = read_items(source)  # a malformed table fails here, before the store is touched
        layout = chosen.name
    with store_lock(store_path):
        previous = Store.open(store_path, database_url) if (store_path / MANIFEST).is_file() else None
        try:
            with disk_space("indexing the catalog", store_path):  # the embeddings made so far are kept, to resume
                report = _index(catalog, source, layout, store_path, previous, encoder, index_config, batch_size,
                                checkpoint_every, progress, fusion, database_url)
        finally:
            if previous is not None:
                previous.close()
        shutil.rmtree(store_path / WORK_DIR, ignore_errors=True)
    return report


def _index(catalog, source, layout, store_path, previous, encoder, index_config, batch_size, checkpoint_every, progress,
           fusion, database_url) -> IndexReport:
    encoder = _choose_encoder(encoder, previous)
    report = IndexReport(layout=layout)
    report.encoder_changed = previous is not None and previous.manifest["encoder"].get("fingerprint") != encoder.fingerprint
    reusable = None if report.encoder_changed else previous  # a store whose vectors this encoder would make
    if fusion is None:
        fusion = [FusionPart(p["encoder"], p["weight"]) for p in previous.fusion] if previous is not None else []
    part_encoders = [_choose_part_encoder(part, previous) for part in fusion]  # a missing extra fails before any work
    catalog["image_hash"] = _hash_images(catalog["image"].tolist())
    work = _Checkpoints(store_path / WORK_DIR / encoder.fingerprint)
    vectors, ok, to_embed = _reuse_vectors(catalog, encoder, reusable, work.load(), report)
    _embed(encoder, catalog, to_embed, vectors, ok, work, report, batch_size, checkpoint_every, progress)
    if not ok.any():
        raise DressUpError(f"none of the catalog's {len(catalog):,} images could be read; the store was left as it was")
    indexed, vectors = catalog[ok].reset_index(drop=True), vectors[ok]
    live = _live_items(previous)
    _count_changes(report, live, indexed)
    parts, parts_reused = _embed_parts(fusion, part_encoders, indexed, previous)  # parts are keyed by their own fingerprints
    report.items = len(indexed)
    if _journal_suits(reusable, parts, index_config, layout, indexed):
        changes = _changes(live, indexed, vectors)
        if len(changes) <= max(JOURNAL_MIN, JOURNAL_SHARE * len(indexed)):
            report.journaled = _write_changes(previous, changes, vectors, indexed, database_url)
            report.generation = previous.manifest["generation"]
            return report
    same_vectors = _same_vectors(reusable, indexed, index_config) and parts_reused and _same_fusion(reusable, parts)
    if same_vectors and _same_metadata(reusable, indexed) and reusable.manifest.get("layout") == layout:
        report.generation = reusable.manifest["generation"]  # nothing changed
        return report
    details = {"counts": {"unreadable_images": len(report.unreadable)}, "source": {"path": str(Path(source.path).resolve())},
               "layout": layout}
    reuse_index = reusable.generation_path if same_vectors else None
    seq = previous.state.seq if previous is not None else 0  # the file holds every change made until now
    manifest = write_generation(store_path, indexed, vectors, encoder, index_config, details, reuse_index, parts, journal_seq=seq)
    report.generation = manifest["generation"]
    return report


def _journal_suits(reusable: Store | None, parts, config: IndexConfig, layout: str, indexed: pd.DataFrame) -> bool:
    """Whether the catalog's changes can go into the journal: the same encoder, index and layout, and no fusion."""
    return (reusable is not None and not parts and not reusable.fusion and reusable.manifest.get("layout") == layout
            and index_fits(reusable.manifest, config, len(indexed)))


def _live_items(previous: Store | None) -> pd.DataFrame:
    """The items a store holds now (its live rows), indexed by id."""
    if previous is None:
        return pd.DataFrame(columns=["id", "image_hash"]).set_index("id", drop=False)
    return previous.items[previous.state.alive].set_index("id", drop=False)


def _changes(live: pd.DataFrame, indexed: pd.DataFrame, vectors: np.ndarray) -> list[tuple[str, str, int | None]]:
    """(item id, operation, catalog row) changes that turn the live items into the catalog; a row for puts."""
    changes = [(item_id, REMOVE, None) for item_id in live.index.difference(pd.Index(indexed["id"]), sort=False)]
    known = indexed["id"].isin(live.index).to_numpy()
    changes += [(item_id, PUT, row) for row, item_id in zip(np.flatnonzero(~known), indexed["id"][~known])]
    both = indexed[known]
    if len(both):
        before = live.loc[both["id"]].reindex(columns=both.columns)
        differs = ~_text(before).eq(_text(both.set_index(both["id"]))).all(axis=1).to_numpy()
        changes += [(item_id, PUT, row) for row, item_id in zip(np.flatnonzero(known)[differs], both["id"][differs])]
    return changes


def _text(table: pd.DataFrame) -> pd.DataFrame:
    return table.astype(object).where(table.notna(), None).astype(str)


def _write_changes(store: Store, changes, vectors: np.ndarray, indexed: pd.DataFrame, database_url: str | None) -> int:
    """The changes as journal entries, in one transaction; an item's embedding goes with it when its photo is new."""
    if not changes:
        return 0
    if store.journal is None:
        store.journal = Journal.open(store.path, store_id(store.manifest), database_url, create=True)
    live = store.state
    with store.journal.writing() as writer:
        state = live.applied(writer.changes_after(live.seq))  # live edits made while the catalog was read
        entries = []
        for item_id, operation, row in changes:
            if operation == REMOVE:
                if item_id in state:
                    entries.append((item_id, REMOVE, None, None))
                continue
            record = indexed.iloc[row].to_dict()
            same_photo = item_id in state and state.record(state.row(item_id)).get("image_hash") == record["image_hash"]
            entries.append((item_id, PUT, record, None if same_photo else vectors[row]))
        writer.append(entries)
    return len(entries)


def _reuse_vectors(catalog: pd.DataFrame, encoder: ImageEncoder, reusable: Store | None, resumed: dict, report: IndexReport):
    """Vectors already made for these (id, image content) pairs; the rows still to embed."""
    known = _previous_vectors(reusable)
    vectors = np.zeros((len(catalog), encoder.dimension), np.float32)
    ok = np.zeros(len(catalog), bool)
    to_embed = []
    for row, (item_id, digest, image) in enumerate(zip(catalog["id"], catalog["image_hash"], catalog["image"])):
        key = (item_id, digest)
        if digest is None:
            report.unreadable.append((item_id, f"{image or '(no image path)'}: no such file"))
        elif key in known:
            vectors[row], ok[row] = known[key], True
        elif key in resumed:
            vectors[row], ok[row] = resumed[key], True
            report.resumed += 1
        else:
            to_embed.append(row)
    return vectors, ok, to_embed


def _embed(encoder, catalog, to_embed, vectors, ok, work, report, batch_size, checkpoint_every, progress) -> None:
    """Embed the rows ``to_embed`` into ``vectors``, checkpointing as it goes."""
    started = time.perf_counter()
    done = 0
    ids, hashes, paths = (catalog[c].to_numpy(dtype=object) for c in ("id", "image_hash", "image"))
    for batch in encoder.encode_each(paths[to_embed].tolist(), batch_size=batch_size):
        rows = [to_embed[p] for p in batch.positions]
        vectors[rows], ok[rows] = batch.vectors, True
        work.add(list(zip(ids[rows], hashes[rows])), batch.vectors)
        report.unreadable += [(ids[to_embed[position]], message) for position, message in batch.failures]
        report.embedded += len(batch.positions)
        done += len(batch.positions) + len(batch.failures)
        if work.pending >= checkpoint_every:
            work.flush()
        progress.update("embedding", done, len(to_embed))
    work.flush()
    report.seconds_embedding = time.perf_counter() - started


def _embed_parts(fusion: list[FusionPart], encoders: list[Encoder], indexed: pd.DataFrame,
                 reusable: Store | None) -> tuple[list[StoredPart], bool]:
    """Embed each fused part, reusing the previous generation's vectors for unchanged inputs (by `Encoder.item_keys`:
    image content for image parts, the item's text for text parts). Returns the parts and whether every vector was reused.
    """
    parts, all_reused = [], True
    for part, encoder in zip(fusion, encoders, strict=True):
        keys = encoder.item_keys(indexed)
        known = _previous_part_vectors(reusable, encoder, keys)
        missing = [row for row, key in enumerate(keys) if key not in known]
        vectors = np.zeros((len(keys), encoder.dimension), np.float32)
        for row, key in enumerate(keys):
            if key in known:
                vectors[row] = known[key]
        if missing:
            all_reused = False
            inputs = encoder.item_inputs(indexed)
            vectors[missing] = encoder.encode([inputs[row] for row in missing])
        parts.append(StoredPart.made_by(encoder, part.weight, vectors))
    return parts, all_reused


def _choose_part_encoder(part: FusionPart, reusable: Store | None) -> Encoder:
    for number, stored in enumerate(reusable.fusion if reusable is not None else [], start=1):
        if part.encoder in (stored["encoder"], stored.get("source")) and stored["kind"] == "image":
            return reusable._part_encoder(number)
    return create_encoder(part.encoder)


def _previous_part_vectors(reusable: Store | None, encoder: Encoder, keys: list[tuple]) -> dict:
    for number, stored in enumerate(reusable.fusion if reusable is not None else [], start=1):
        if stored["fingerprint"] == encoder.fingerprint:
            embeddings = reusable.part_embeddings(number)
            wanted = set(keys)
            return {key: embeddings[row] for row, key in enumerate(encoder.item_keys(reusable.items)) if key in wanted}
    return {}


def _same_fusion(reusable: Store | None, parts: list[StoredPart]) -> bool:
    if reusable is None:
        return not parts
    before = [(p["encoder"], p["weight"], p["fingerprint"]) for p in reusable.fusion]
    return before == [(p.name, p.weight, p.fingerprint) for p in parts]


def _choose_encoder(encoder: str | ImageEncoder | None, previous: Store | None) -> ImageEncoder:
    if isinstance(encoder, ImageEncoder):
        return encoder
    if encoder is None:
        return previous.encoder if previous is not None else create_encoder(DEFAULT_ENCODER)
    if previous is not None and previous.manifest["encoder"]["name"] == str(encoder):
        return previous.encoder
    chosen = create_encoder(encoder)
    if chosen.kind != "image":
        raise DressUpError(f"{encoder!r} is a {chosen.kind} encoder; a store's main encoder reads photos (fuse text with --fuse "
                           "text=0.3)")
    return chosen


def _hash_images(paths: list[str], chunk: int = 512) -> list[str | None]:
    """Content hash per image file; None for a missing file."""

    def digest(path: str) -> str | None:
        try:
            with open(path, "rb") as handle:
                return content_hash(handle.read())
        except OSError:
            return None

    chunks = [paths[start : start + chunk] for start in range(0, len(paths), chunk)]
    with ThreadPoolExecutor(max_workers=4) as pool:  # file reads wait on the disk, not the CPU
        return [d for part in pool.map(lambda part: [digest(p) for p in part], chunks) for d in part]


def _previous_vectors(reusable: Store | None) -> dict:
    """The embeddings a store has made, by (id, image content) (rows replaced by newer photos included)."""
    if reusable is None:
        return {}
    embeddings = reusable.embeddings()
    keys = zip(reusable.items["id"], reusable.items["image_hash"])
    return {key: embeddings[row] for row, key in enumerate(keys)}


def _same_vectors(reusable: Store | None, indexed: pd.DataFrame, config: IndexConfig) -> bool:
    """True when the new generation holds the same images, in the same order, indexed the same way."""
    if reusable is None or not index_fits(reusable.manifest, config, len(indexed)):
        return False
    return all(reusable.items[c].tolist() == indexed[c].tolist() for c in ("id", "image_hash"))


def _same_metadata(reusable: Store, indexed: pd.DataFrame) -> bool:
    if list(reusable.items.columns) != list(indexed.columns):
        return False
    return all(reusable.items[c].astype(str).tolist() == indexed[c].astype(str).tolist() for c in indexed.columns)


def _count_changes(report: IndexReport, live: pd.DataFrame, current: pd.DataFrame) -> None:
    old = dict(zip(live["id"], live["image_hash"]))
    new = dict(zip(current["id"], current["image_hash"]))
    report.added = sum(1 for i in new if i not in old)
    report.removed = sum(1 for i in old if i not in new)
    report.updated_images = sum(1 for i, h in new.items() if i in old and old[i] != h)
    report.unchanged = sum(1 for i, h in new.items() if old.get(i) == h)


class _Checkpoints:
    """Embeddings of the run in progress, saved in chunks that survive a crash."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.keys: list[tuple[str, str]] = []
        self.rows: list[np.ndarray] = []
        self.count = len(list(directory.glob("chunk-*.npz"))) if directory.is_dir() else 0

    @property
    def pending(self) -> int:
        return len(self.keys)

    def load(self) -> dict:
        found = {}
        for chunk in sorted(self.directory.glob("chunk-*.npz")) if self.directory.is_dir() else []:
            try:
                with np.load(chunk) as data:
                    for item_id, digest, vector in zip(data["ids"], data["hashes"], data["vectors"]):
                        found[(str(item_id), str(digest))] = vector
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                continue  # a chunk cut short by the crash: its images are embedded again
        return found

    def add(self, keys: list[tuple[str, str]], vectors: np.ndarray) -> None:
        self.keys.extend(keys)
        self.rows.append(vectors)

    def flush(self) -> None:
        if not self.keys:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count += 1
        target = self.directory / f"chunk-{self.count:06d}.npz"
        temporary = self.directory / f"partial-{self.count:06d}.npz"  # not matched by chunk-*.npz until complete
        ids, hashes = zip(*self.keys)
        np.savez(temporary, ids=np.array(ids), hashes=np.array(hashes), vectors=np.concatenate(self.rows))
        temporary.replace(target)
        self.keys, self.rows = [], []
