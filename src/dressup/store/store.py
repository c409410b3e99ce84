"""The store: a self-describing directory holding a catalog's items, embeddings, index and encoder.

``Store.open(path)`` opens the current base generation (see `dressup.store.generations`) with the catalog journal's
changes on top (`dressup.store.live`), for searching: ``store.similar(item="15970", k=10, filters=Filters(...))``.
A store opened by a long-running process takes in other processes' changes with ``refresh()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ..catalog import CatalogLayout, Item, layout_of_items
from ..encoders import ImageEncoder, load_text_tower
from ..encoders.text_tower import TextTower
from ..errors import first_line
from ..images import ImageInput, load_image
from ..looks import LOOK_SIDE, Garment, GarmentFinder
from .errors import DamagedStoreError
from .filters import Filters, column_named
from .fusion import fuse
from .generations import MANIFEST, GenerationLock, StoreError, read_manifest, store_id
from .journal import Journal
from .live import Base, LiveState, UnknownItemError
from .text_search import (
    CANDIDATES,
    MODES,
    SearchError,
    checked_text,
    fuse_rankings,
    keyword_weight,
    parse_query,
    preferred_first,
    searchable,
    top_keyword_rows,
)
from .validation import check_generation, damaged
from .vectors import IndexConfig, Projection, VectorIndex, pad_results

__all__ = ["GarmentMatches", "Match", "SearchError", "SearchResults", "Store", "UnknownItemError"]


@dataclass(frozen=True)
class Match:
    """One search result: the item's id, its similarity score and its row in the store."""

    id: str
    score: float
    row: int


@dataclass(frozen=True)
class SearchResults:
    """A text search's matches, the mode that ranked them, and what its words became (filters) and searched."""

    matches: list[Match]
    mode: str
    understood: dict
    searched: str
    preferred: dict = field(default_factory=dict)
    filters: Filters | None = None  # what the search was filtered by: the request's filters and those its words became


@dataclass(frozen=True)
class GarmentMatches:
    """One garment of a photo (`Store.look`) and the items most similar to it."""

    garment: Garment
    matches: list[Match]


class Store:
    """An opened store: ``Store.open(path).similar(item="15970", k=10)``.

    Everything about items reads the current `LiveState` (``store.state``); a caller that needs several answers to
    agree takes the state once and asks it.
    """

    def __init__(self, path: Path, manifest: dict, base: Base, journal: Journal | None, lock: GenerationLock | None = None,
                 database_url: str | None = None):
        self.path = path
        self.database_url = database_url
        self.manifest = manifest
        self.base = base
        self.journal = journal
        self._lock = lock  # held while the store is open: the base generation is not deleted under it
        self._state = LiveState.of(base, manifest.get("journal_seq", 0))
        self._refreshing = threading.Lock()
        self._encoder: ImageEncoder | None = None
        self._part_encoders: dict[int, ImageEncoder] = {}
        self._garment_finder: GarmentFinder | None = None
        self._finder_made = threading.Lock()
        self._text_tower: TextTower | None | bool = False  # False: not looked for yet
        self.fusion: list[dict] = manifest.get("fusion", [])
        self.refresh()

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, database_url: str | None = None) -> Store:
        """The store at ``path``, with the changes of the catalog journal in its database (STORE/users.sqlite, or
        ``database_url``) applied."""
        path = Path(path)
        for _attempt in range(3):
            manifest = read_manifest(path)
            folder = path / manifest["generation"]
            try:
                lock = GenerationLock(folder)
            except FileNotFoundError:  # replaced and deleted since the manifest was read: read the new one
                if read_manifest(path)["generation"] == manifest["generation"]:
                    raise damaged(path / MANIFEST, f"names generation {manifest['generation']}, which is not in the store",
                                  path) from None
                continue
            try:
                base = Base.open(folder, IndexConfig.from_dict(manifest.get("index_config", {})))
                check_generation(path, folder, manifest, len(base))
                break
            except DamagedStoreError:
                lock.release()
                if read_manifest(path)["generation"] != manifest["generation"]:
                    continue  # a writer swapped generations while we read: read the new one
                raise
        else:
            raise StoreError(f"{path}: the store changed generation while it was opened, three times over; try again")
        return cls(path, manifest, base, Journal.open(path, store_id(manifest), database_url), lock, database_url)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()
        if self._lock is not None:
            self._lock.release()

    @property
    def state(self) -> LiveState:
        """The catalog as it is now (as of the last `refresh`)."""
        return self._state

    def refresh(self) -> bool:
        """Take in the journal's new changes (other processes' edits); returns whether there were any."""
        if self.journal is None:  # no database yet: another process's first edit makes one
            self.journal = Journal.open(self.path, store_id(self.manifest), self.database_url)
        if self.journal is None:
            return False
        with self._refreshing:
            changes = self.journal.changes_after(self._state.seq)
            if changes:
                self._state = self._state.applied(changes)
        return bool(changes)

    @property
    def layout(self) -> type[CatalogLayout]:
        """The catalog layout the items came from (it says which columns play which role, see `dressup.catalog`)."""
        return layout_of_items(self.base.columns, self.manifest.get("layout"))

    @property
    def generation_path(self) -> Path:
        return self.path / self.manifest["generation"]

    @property
    def projection(self) -> Projection | None:
        return self.base.projection

    # -- vectors -------------------------------------------------------------------------------
    @property
    def index(self) -> VectorIndex:
        return self._state.index

    @property
    def vectors(self) -> np.ndarray:
        """Every row's searched vector (a copy for large or changed stores: `vectors_of` reads a few)."""
        return self._state.index.vectors

    def vectors_of(self, rows) -> np.ndarray:
        return self._state.index.vectors_of(np.asarray(rows, np.int64))

    def embeddings(self) -> np.ndarray:
        """The encoder's embeddings of every row (float16; memory-mapped when the catalog has not changed)."""
        return self._state.embeddings()

    def part_embeddings(self, number: int) -> np.ndarray:
        """The embeddings of fused part ``number`` (1, 2, ...; see `dressup.store.fusion`)."""
        return np.load(self.generation_path / self.fusion[number - 1]["file"], mmap_mode="r")

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Query vectors for photos, in the space the index searches."""
        vectors = self.encoder.encode(images)
        if self.fusion:
            vectors = self._fuse_query(vectors, images)
        return self._in_index_space(vectors)

    def _in_index_space(self, vectors: np.ndarray) -> np.ndarray:
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
            self._part_encoders[number] = _load_encoder(self.generation_path / f"encoder-part-{number}", self.path)
        return self._part_encoders[number]

    @property
    def encoder(self) -> ImageEncoder:
        """The encoder the store's vectors were made with (loaded on first use)."""
        if self._encoder is None:
            self._encoder = _load_encoder(self.generation_path / "encoder", self.path)
        return self._encoder

    # -- items -------------------------------------------------------------------------------
    def __len__(self) -> int:
        """How many items the catalog holds."""
        return len(self._state)

    @property
    def rows(self) -> int:
        """How many rows arrays over the store need: the items, and the rows of removed or replaced ones."""
        return self._state.rows

    @property
    def items(self) -> pd.DataFrame:
        """The item table, one row per row (see `LiveState.items`)."""
        return self._state.items

    @property
    def ids(self) -> np.ndarray:
        """Every row's id (read-only)."""
        return self._state.ids

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._state

    def row(self, item_id: str) -> int:
        return self._state.row(item_id)

    def rows_of(self, item_ids) -> np.ndarray:
        """Rows of many ids at once; -1 for ids the store does not hold."""
        return self._state.rows_of(item_ids)

    def item(self, item_id: str) -> Item:
        return self._state.item(item_id)

    def item_at(self, row: int) -> Item:
        return self._state.item_at(row)

    def column(self, name: str) -> np.ndarray:
        """One column's values for every row."""
        return self._state.column(name)

    def column_named(self, name: str) -> str:
        """The column a filter or label name refers to (an item field or a raw attribute); a `FilterError` for none."""
        return column_named(name, self._state.columns)

    def mask(self, filters: Filters | None) -> np.ndarray | None:
        """The rows the filters allow (available and alive ones), or None for every row."""
        return self._state.mask(filters)

    # -- search ------------------------------------------------------------------------------
    def similar(
        self,
        query: str | ImageInput | None = None,
        k: int = 10,
        filters: Filters | None = None,
        *,
        item: str | None = None,
        image: ImageInput | None = None,
        state: LiveState | None = None,
    ) -> list[Match]:
        """The k items most similar to a stored item or to an image, best first.

        ``query`` is an item id when the store has one by that name, otherwise an image
        (path, bytes or PIL image); ``item=`` and ``image=`` say which explicitly. ``state``: the catalog as one
        request took it (default: the store's current one).
        """
        if query is not None:
            if item is not None or image is not None:
                raise ValueError("give a query, or item=, or image=, not several")
            is_id = isinstance(query, str) and (query in self or not Path(query).exists())
            item, image = (query, None) if is_id else (None, query)
        if (item is None) == (image is None):
            raise ValueError("give exactly one of item or image")
        state = state or self._state
        if item is not None:
            row = state.row(item)
            query, exclude = state.index.vectors_of([row])[0], row
        else:
            query, exclude = self.embed_images([image])[0], -1
        rows, scores = self.search_vectors(query[None, :], k, filters, exclude=[exclude], state=state)
        return self._matches(state, rows[0], scores[0])

    def look(self, image: ImageInput, k: int = 10, filters: Filters | None = None,
             state: LiveState | None = None) -> list[GarmentMatches]:
        """Shop the look: each garment of a photo (`dressup.looks`), most prominent first, with its k most similar
        items. A photo without a garment has none."""
        photo = image if isinstance(image, Image.Image) else load_image(image, draft_size=2 * LOOK_SIDE)
        garments = self.garment_finder.find(photo)
        if not garments:
            return []
        state = state or self._state
        rows, scores = self.search_vectors(self.embed_images([g.crop(photo) for g in garments]), k, filters, state=state)
        return [GarmentMatches(g, self._matches(state, r, s)) for g, r, s in zip(garments, rows, scores, strict=True)]

    def search(self, text: str | None = None, image: ImageInput | None = None, k: int = 10,
               filters: Filters | None = None, mode: str = "hybrid", state: LiveState | None = None) -> list[Match]:
        """The k items that best match a shopper's text ("black wide-leg trousers"), or a photo and a text that
        modifies it ("like this, but in red"), best first. ``mode``: ``hybrid`` (keywords and the text tower's
        vector fused), ``keywords`` or ``visual`` (the image embeddings alone). See `search_results`."""
        return self.search_results(text, image, k, filters, mode, state).matches

    def search_results(self, text: str | None = None, image: ImageInput | None = None, k: int = 10,
                       filters: Filters | None = None, mode: str = "hybrid",
                       state: LiveState | None = None, prefer_named: bool = True) -> SearchResults:
        """`search`, with what the query's words became (filters, preferred values) and the mode that ranked.
        ``prefer_named=False`` ranks by the words alone, ignoring the colours and types they name."""
        if mode not in MODES:
            raise SearchError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
        text = checked_text(text, image is not None)
        state = state or self._state
        query = parse_query(text, filters or Filters(), state, with_image=image is not None)
        allowed = state.mask(query.filters)
        if image is None and not searchable(query.text) and not query.understood:
            raise SearchError(f"no searchable word in {text[:60]!r}: only stop words or symbols")
        if not prefer_named or mode == "visual":  # visual ranks by the look alone: nothing named is preferred
            query = replace(query, preferred={})
        if image is not None and mode == "keywords":
            mode = "visual"  # a photo is ranked by its look, its words are filters
        photo = self.embed_images([image]) if image is not None else None
        words = self._text_vector(query.text, mode, photo is not None)
        keywords = searchable(query.text) and mode in ("hybrid", "keywords")
        if query.preferred:  # items of the named colours and types first, the others after when too few
            where = {**query.filters.where, **{c: [v] for c, v in query.preferred.items()}}
            narrowed = state.mask(replace(query.filters, where=where))
            rows, scores = self._ranked(state, query.text, keywords, photo, words, narrowed, k)
            if len(rows) < k:
                rows, scores = preferred_first(rows, scores, *self._ranked(state, query.text, keywords, photo, words,
                                                                           allowed, k), k)
            else:
                scores = (scores + 1.0).astype(np.float32)
        else:
            rows, scores = self._ranked(state, query.text, keywords, photo, words, allowed, k)
        return SearchResults(self._matches(state, rows, scores), mode, query.understood, query.text, query.preferred,
                             query.filters)

    def _text_vector(self, text: str, mode: str, with_photo: bool) -> np.ndarray | None:
        """The text tower's query vector in the index's space, when the mode ranks by it and the store has a tower."""
        if not searchable(text) or mode not in ("hybrid", "visual"):
            return None
        tower = self.text_tower
        if tower is None:
            if mode == "visual" and not with_photo:  # with a photo, the photo ranks
                raise SearchError(self._no_tower_reason())
            return None
        return self._in_index_space(tower.encode([text]))

    def _ranked(self, state: LiveState, text: str, keywords: bool, photo: np.ndarray | None, words: np.ndarray | None,
                allowed: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best allowed rows by the photo's vector, the keywords and the words' vector (those given), fused."""
        rankings, weights = [], []
        if photo is not None:
            rankings.append(_nearest(state, photo, allowed)), weights.append(1.0)
        if keywords:
            rankings.append(top_keyword_rows(state.keyword_scores(text), allowed, CANDIDATES))
            weights.append(keyword_weight(text))
        if words is not None:
            rankings.append(_nearest(state, words, allowed)), weights.append(1.0 if photo is None else 0.5)
        if not rankings:  # the words were all filters ("men under 50"): the items they allow, in catalog order
            rankings.append(np.flatnonzero(allowed if allowed is not None else state.alive)[:CANDIDATES])
            weights.append(1.0)
        return fuse_rankings(rankings, weights, k)

    @property
    def text_tower(self) -> TextTower | None:
        """The bundled text tower when it was trained against this store's image vectors (None otherwise)."""
        if self._text_tower is False:
            tower = load_text_tower()
            fits = tower is not None and not self.fusion and tower.fits(self.encoder)
            self._text_tower = tower if fits else None
        return self._text_tower

    def _no_tower_reason(self) -> str:
        name = self.manifest.get("encoder", {}).get("name", "?")
        if self.fusion:
            return "visual text search needs a store of image vectors alone; this one fuses text: use --mode keywords"
        return (f"visual text search needs the text tower of this store's image encoder; {name!r} has none: "
                f"re-index with the default encoder, or use --mode keywords")

    @property
    def garment_finder(self) -> GarmentFinder:
        """Finds the garments of photos with the store's encoder (made on first use)."""
        with self._finder_made:
            if self._garment_finder is None:
                self._garment_finder = GarmentFinder(self.encoder)
            return self._garment_finder

    def similar_all(self, k: int = 10, filters: Filters | None = None,
                    batch_size: int = 1024) -> Iterator[tuple[str, list[Match]]]:
        """Every item's k most similar items (the item itself excluded), for precomputed product pages."""
        state = self._state
        alive = np.flatnonzero(state.alive)
        for start in range(0, len(alive), batch_size):
            rows = alive[start : start + batch_size]
            found, scores = self.search_vectors(state.index.vectors_of(rows), k, filters, exclude=list(rows), state=state)
            for row, r, s in zip(rows, found, scores):
                yield state.ids_of([row])[0], self._matches(state, r, s)

    def search_vectors(self, queries: np.ndarray, k: int, filters: Filters | None = None,
                       exclude: Sequence[int] | None = None, state: LiveState | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and scores of the k best items per query; ``exclude[i]`` is a row to leave out of query i."""
        state = state or self._state
        allowed = state.mask(filters)
        extra = 1 if exclude is not None else 0
        rows, scores = state.index.search(queries, k + extra, allowed)
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

    @staticmethod
    def _matches(state: LiveState, rows: np.ndarray, scores: np.ndarray) -> list[Match]:
        found = rows >= 0
        ids = state.ids_of(rows[found])
        return [Match(i, float(s), int(r)) for i, r, s in zip(ids, rows[found].tolist(), scores[found].tolist())]


def _nearest(state: LiveState, vector: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """The allowed rows nearest to one query vector, best first (at most `CANDIDATES`)."""
    rows, _ = state.index.search(vector, CANDIDATES, allowed)
    return rows[0][rows[0] >= 0]


def _load_encoder(folder: Path, store: Path) -> ImageEncoder:
    """A generation's encoder, or a `DamagedStoreError` naming its file when the model will not load."""
    try:
        return ImageEncoder.load(folder)
    except Exception as error:  # noqa: BLE001 - ONNX Runtime raises its own kinds on a damaged model
        file = folder / ("encoder.json" if isinstance(error, KeyError | ValueError | TypeError) else "model.onnx")
        raise damaged(file, f"the encoder does not load ({type(error).__name__}: {first_line(error)[:200]})", store) from None

