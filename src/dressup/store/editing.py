"""Live catalog edits: add, change or remove single products without re-indexing the whole catalog.

>>> add_item("stores/fpi", {"id": "new-1", "title": "Blue shirt", "category": "Shirts"}, image=photo_bytes)  # doctest: +SKIP
>>> remove_item("stores/fpi", "new-1")                                                                 # doctest: +SKIP

Each edit writes a new store generation (see `dressup.store.generations`), so readers never see half an edit and a
crash leaves the previous catalog in use. Uploaded photos are kept in ``STORE/images/`` under their
content hash. A later ``dressup index`` from the shop's catalog file replaces the catalog with that file's
contents, edits included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from pyarrow import ArrowException

from ..catalog import ATTRIBUTE_PREFIX, ITEM_FIELDS, Item, id_problem, parquet_safe, split_sizes
from ..errors import DressUpError
from ..files import atomic_write
from ..images import MAX_PIXELS, UPLOAD_FORMATS, ImageInput, content_hash, load_image
from .generations import index_fits, store_lock, write_generation
from .store import Store, UnknownItemError
from .vectors import IndexConfig

IMAGES_DIR = "images"
EDITABLE_FIELDS = tuple(f for f in ITEM_FIELDS if f not in ("id", "image"))
TEXT_FIELDS = tuple(f for f in EDITABLE_FIELDS if f != "price")  # a new item starts with these empty
LOCK_WAIT_SECONDS = 30.0


class ItemEditError(DressUpError, ValueError):
    """An item edit that cannot be applied: a bad field, a store that cannot be edited."""


class ItemExistsError(ItemEditError):
    """A new item whose id the store already holds."""


def add_item(store_path: str | Path, fields: Mapping, image: ImageInput, max_pixels: int = MAX_PIXELS) -> Item:
    """Add a product with its photo; its id must be new."""
    item_id = _item_id(fields.get("id"))
    return _edit(Path(store_path), item_id, fields, image, max_pixels, must_exist=False)


def update_item(store_path: str | Path, item_id: str, fields: Mapping, image: ImageInput | None = None,
                max_pixels: int = MAX_PIXELS) -> Item:
    """Change a product's metadata (the fields given) and optionally its photo."""
    return _edit(Path(store_path), _item_id(item_id), fields, image, max_pixels, must_exist=True)


def remove_item(store_path: str | Path, item_id: str) -> None:
    """Remove a product from the catalog and the index."""
    store_path = Path(store_path)
    with store_lock(store_path, wait=LOCK_WAIT_SECONDS):
        store = _editable(store_path)
        row = store.row(item_id)
        if len(store) == 1:
            raise ItemEditError("cannot remove the last item of a store")
        keep = np.ones(len(store), bool)
        keep[row] = False
        _write(store, store.items[keep], np.asarray(store.embeddings(), np.float32)[keep])


def _edit(store_path: Path, item_id: str, fields: Mapping, image: ImageInput | None, max_pixels: int, must_exist: bool) -> Item:
    values = _checked_fields(fields)
    photo = load_image(image, max_pixels=max_pixels,
                       formats=UPLOAD_FORMATS) if image is not None else None  # fails before the lock
    with store_lock(store_path, wait=LOCK_WAIT_SECONDS):
        store = _editable(store_path)
        exists = item_id in store
        if must_exist and not exists:
            raise UnknownItemError(f"unknown item id {item_id!r}: the store has no such item")
        if not must_exist and exists:
            raise ItemExistsError(f"item {item_id!r} already exists; change it with an update")
        items = store.items.copy()
        embeddings = np.asarray(store.embeddings(), np.float32)
        if exists:
            row = store.row(item_id)
        else:
            row = len(items)
            items.loc[row] = {column: None for column in items.columns} | {"id": item_id}
            items.loc[row, list(TEXT_FIELDS)] = ""
            embeddings = np.vstack([embeddings, np.zeros((1, embeddings.shape[1]), np.float32)])
        for name, value in values.items():
            _assign(items, row, name, value)
        if photo is not None:
            path, digest = _keep_upload(store_path, image)
            items.loc[row, "image"], items.loc[row, "image_hash"] = str(path), digest
            embeddings[row] = store.encoder.encode([photo])[0]
        _write(store, items, embeddings, same_vectors=exists and photo is None)
        return Item.from_row(items.loc[row].to_dict())


def _checked_fields(fields: Mapping) -> dict:
    """Item-table columns and values from an edit's fields; unknown fields are an error."""
    values = {}
    for name, value in fields.items():
        if name in ("id", "image"):
            continue
        if name == "attributes":
            if not isinstance(value, Mapping):
                raise ItemEditError("attributes must be an object of name: value")
            for key, attribute in value.items():
                if attribute is not None and not isinstance(attribute, str | int | float | bool):
                    raise ItemEditError(f"attribute {key!r} must be text, a number or a boolean")
                if isinstance(attribute, float) and not math.isfinite(attribute):
                    raise ItemEditError(f"attribute {key!r} must be a finite number, not {attribute}")
                values[ATTRIBUTE_PREFIX + str(key)] = attribute
        elif name == "price":
            values["price"] = _price(value)
        elif name == "sizes":
            values["sizes"] = "|".join(split_sizes(value))
        elif name in EDITABLE_FIELDS:
            values[name] = "" if value is None else str(value).strip()
        else:
            raise ItemEditError(f"unknown item field {name!r}; use {', '.join(EDITABLE_FIELDS)} or attributes")
    return values


def _price(value) -> float:
    if value is None:
        return math.nan
    try:
        price = float(value)
    except (TypeError, ValueError):
        raise ItemEditError(f"price must be a number, not {value!r}") from None
    if not math.isfinite(price) or price < 0:
        raise ItemEditError(f"price must be a finite number of at least 0, not {value!r}")
    return price


def _item_id(value) -> str:
    text = "" if value is None else str(value).strip()
    if problem := id_problem(text):
        raise ItemEditError(problem)
    return text


def _editable(store_path: Path) -> Store:
    store = Store.open(store_path)
    if store.fusion:
        raise ItemEditError(f"{store_path}: stores with fused embeddings are edited through their catalog file and `dressup "
                            "index`")
    return store


def _keep_upload(store_path: Path, source: ImageInput) -> tuple[Path, str]:
    """Save an uploaded photo under its content hash and format's extension (a temporary name, then a rename);
    the absolute path goes into the item table, so the store works from any working directory."""
    import io

    from PIL import Image

    if isinstance(source, Image.Image):  # an image object: keep it as PNG
        buffer = io.BytesIO()
        source.save(buffer, format="PNG")
        data = buffer.getvalue()
    else:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    extension = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}.get(
        Image.open(io.BytesIO(data)).format, "")
    digest = content_hash(data)
    folder = (store_path / IMAGES_DIR).resolve()
    folder.mkdir(exist_ok=True)
    target = folder / f"{digest}{extension}"
    if not target.exists():
        atomic_write(target, data)
    return target, digest


def _assign(items: pd.DataFrame, row: int, name: str, value) -> None:
    """Set one cell; a value the column's type cannot hold (text in a number column ...) turns the column into text."""
    if name not in items.columns:
        items[name] = pd.Series([None] * len(items), dtype=object, index=items.index)
    try:
        items.loc[row, name] = value
        return
    except (TypeError, ValueError):
        pass
    column = items[name].astype(object)
    items[name] = column.where(column.notna(), None).map(lambda v: v if v is None else str(v))
    items.loc[row, name] = None if value is None else str(value)


def _write(store: Store, items: pd.DataFrame, embeddings: np.ndarray, same_vectors: bool = False) -> None:
    """Write the edited catalog as a new generation; with ``same_vectors`` (metadata only) the index is copied."""
    manifest = store.manifest
    details = {"counts": {k: v for k, v in manifest.get("counts", {}).items() if k != "items"}}
    details.update({key: manifest[key] for key in ("source", "layout") if key in manifest})
    config = IndexConfig.from_dict(manifest.get("index_config", {}))
    reuse = same_vectors and index_fits(manifest, config, len(items))
    for column in items.columns:
        if column.startswith(ATTRIBUTE_PREFIX):
            items[column] = parquet_safe(items[column])  # mixed numbers and text: Parquet stores them as text
    try:
        write_generation(store.path, items.reset_index(drop=True), embeddings, store.encoder, config, details,
                         same_vectors_as=store.generation_path if reuse else None)
    except (TypeError, ValueError, ArrowException) as error:
        raise ItemEditError(f"cannot store the edited catalog: {error}") from None
