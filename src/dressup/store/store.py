"""The store: a self-describing directory holding a catalog's items, embeddings, index and encoder.

``Store.open(path)`` opens the current generation (see `dressup.store.generations`) for searching:
``store.similar(item="15970", k=10, filters=Filters(...))``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..catalog import CatalogLayout, Item, layout_of_items
from ..encoders import ImageEncoder
from ..errors import DressUpError
from ..images import ImageInput
from .filters import FilterIndex, Filters
from .fusion import fuse
from .generations import StoreError, read_manifest
from .vectors import IndexConfig, Projection, VectorIndex, load_index, pad_results


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
                index = load_index(generation / "index.faiss", IndexConfig.from_dict(manifest.get("index_config", {})))
                projection = Projection.load(generation / "projection.npz") if (generation / "projection.npz").is_file() else None
                break
            except (OSError, ValueError, RuntimeError) as error:
                if attempt == 0 and read_manifest(path)["generation"] != manifest["generation"]:
                    continue  # a writer swapped generations while we read: read the new one
                raise StoreError(f"{path}: generation {manifest['generation']} is damaged ({error})") from None
        if len(index) != len(items):
            raise StoreError(f"{path}: generation {manifest['generation']} is damaged ({len(index)} vectors for {len(items)} "
                             "items)")
        return cls(path, manifest, items, index, projection)

    @property
    def layout(self) -> type[CatalogLayout]:
        """The catalog layout the items came from (it says which columns play which role, see `dressup.catalog`)."""
        return layout_of_items(self.items.columns, self.manifest.get("layout"))

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

    def similar_all(self, k: int = 10, filters: Filters | None = None,
                    batch_size: int = 1024) -> Iterator[tuple[str, list[Match]]]:
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
