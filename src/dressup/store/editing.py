"""Live catalog edits: add, change or remove products in place, each as one change in the catalog journal.

>>> add_item("stores/fpi", {"id": "new-1", "title": "Blue shirt", "category": "Shirts"}, image=photo_bytes)  # doctest: +SKIP
>>> update_item("stores/fpi", "new-1", {"in_stock": False})                                         # doctest: +SKIP
>>> remove_item("stores/fpi", "new-1")                                                               # doctest: +SKIP

An edit is checked whole before anything is written (its fields, its photo, whether the id exists), then its
photo is embedded, kept in ``STORE/images/`` under its content hash, and the change is committed to the journal
(`dressup.store.journal`) in one transaction: from then on every reader of the store serves it, and a crash cannot
lose it. The cost of an edit is the cost of its change, whatever the catalog's size. A later compaction folds the
journal into a new base generation (`dressup.store.compaction`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from ..catalog import ATTRIBUTE_PREFIX, ITEM_FIELDS, Item, id_problem, is_in_stock, split_sizes
from ..errors import DressUpError
from ..files import atomic_write, disk_space
from ..images import MAX_PIXELS, UPLOAD_FORMATS, ImageInput, content_hash, load_image
from .generations import store_id
from .journal import PUT, REMOVE, Change, Journal
from .live import LiveState, unknown
from .store import Store

IMAGES_DIR = "images"
EDITABLE_FIELDS = tuple(f for f in ITEM_FIELDS if f not in ("id", "image"))
TEXT_FIELDS = ("title", "category", "subcategory", "colour", "gender", "sizes", "brand", "sold_out_sizes")  # "" when unset
MAX_ATTRIBUTES = 100  # per item
MAX_STORE_ATTRIBUTES = 300  # distinct attribute names edits may bring into a store (each is a column of every item)


class ItemEditError(DressUpError, ValueError):
    """An item edit that cannot be applied: a bad field, a store that cannot be edited."""


class ItemExistsError(ItemEditError):
    """A new item whose id the store already holds."""


@dataclass
class Edit:
    """One product to add (``operation="add"``), change (``"update"``) or remove (``"remove"``)."""

    operation: str
    item_id: str
    fields: Mapping = field(default_factory=dict)
    image: ImageInput | None = None


def add_item(store: Store | str | Path, fields: Mapping, image: ImageInput, max_pixels: int = MAX_PIXELS) -> Item:
    """Add a product with its photo; its id must be new."""
    return apply_edits(store, [Edit("add", fields.get("id"), fields, image)], max_pixels)[0]


def update_item(store: Store | str | Path, item_id: str, fields: Mapping, image: ImageInput | None = None,
                max_pixels: int = MAX_PIXELS) -> Item:
    """Change a product's fields (those given; ``in_stock`` and ``sold_out_sizes`` included) and optionally its photo."""
    return apply_edits(store, [Edit("update", item_id, fields, image)], max_pixels)[0]


def remove_item(store: Store | str | Path, item_id: str) -> None:
    """Remove a product from the catalog and the index."""
    apply_edits(store, [Edit("remove", item_id)])


def apply_edits(store: Store | str | Path, edits: Sequence[Edit], max_pixels: int = MAX_PIXELS,
                database_url: str | None = None) -> list[Item | None]:
    """Apply edits in order, all of them or, when any is refused, none; returns each edited item (None for a removal).

    ``store`` is an open store (a server's, which then serves the edits at once) or a store's path.
    """
    opened = store if isinstance(store, Store) else Store.open(store, database_url)
    try:
        return _apply(opened, edits, max_pixels, database_url)
    finally:
        if opened is not store:
            opened.close()


def _apply(store: Store, edits: Sequence[Edit], max_pixels: int, database_url: str | None) -> list[Item | None]:
    if store.fusion:
        raise ItemEditError(f"{store.path}: stores with fused embeddings are edited through their catalog file and "
                            "`dressup index`")
    checked = [_checked(edit, max_pixels) for edit in edits]  # nothing is written before every edit is checked
    stand_in = [np.zeros(store.base.embeddings().shape[1]) if photo is not None else None for _, _, photo in checked]
    _changes(store.state, edits, checked, [None] * len(edits), stand_in)  # ids that exist, or do not, before any write
    photos = [photo for _, _, photo in checked if photo is not None]
    embeddings = iter(store.encoder.encode(photos)) if photos else iter(())
    vectors = [next(embeddings) if photo is not None else None for _, _, photo in checked]
    new_files: list[Path] = []
    try:
        with disk_space("keeping the edits' photos and writing the catalog journal", store.path):
            kept = [_keep_photo(store.path, edit.image, new_files) if photo is not None else None
                    for edit, (_, _, photo) in zip(edits, checked)]
            if store.journal is None:
                store.journal = Journal.open(store.path, store_id(store.manifest), database_url, create=True)
            with store.journal.writing() as writer:
                state = store.state.applied(writer.changes_after(store.state.seq))  # what other writers did meanwhile
                changes = _changes(state, edits, checked, kept, vectors)
                writer.append([(c.item_id, c.operation, c.record, c.embedding) for c in changes])
    except BaseException:
        for path in new_files:  # photos of edits that were not acknowledged
            path.unlink(missing_ok=True)
        raise
    store.refresh()  # committed: this store serves the edits from now on (and what other writers did before them)
    return [None if change.operation == REMOVE else Item.from_row(change.record) for change in changes]


def _changes(state: LiveState, edits, checked, kept, vectors) -> list[Change]:
    """The journal changes of checked edits over ``state``, each edit seeing the ones before it."""
    changes = []
    for edit, (item_id, values, _), photo_file, vector in zip(edits, checked, kept, vectors, strict=True):
        change = _change(state, edit.operation, item_id, values, photo_file, vector)
        state = state.applied([change])
        changes.append(change)
    return changes


def _checked(edit: Edit, max_pixels: int) -> tuple[str, dict, Image.Image | None]:
    """An edit's id, its fields as table columns and its decoded photo, or an error saying what is wrong."""
    if edit.operation not in ("add", "update", "remove"):
        raise ItemEditError(f"unknown edit {edit.operation!r}: use add, update or remove")
    item_id = _item_id(edit.item_id)
    values = _checked_fields(edit.fields) if edit.operation != "remove" else {}
    if edit.operation == "add" and edit.image is None:
        raise ItemEditError(f"a new item needs a photo ({item_id!r} has none)")
    photo = load_image(edit.image, max_pixels=max_pixels, formats=UPLOAD_FORMATS) if edit.image is not None else None
    return item_id, values, photo


def _change(state: LiveState, operation: str, item_id: str, values: dict, photo_file: tuple[Path, str] | None,
            embedding: np.ndarray | None) -> Change:
    exists = item_id in state
    if operation == "add" and exists:
        raise ItemExistsError(f"item {item_id!r} already exists; change it with an update")
    if operation != "add" and not exists:
        raise unknown(item_id)
    if operation == "remove":
        return Change(0, item_id, REMOVE)
    record = dict(state.record(state.row(item_id))) if exists else _new_record(state, item_id)
    record.update(_in_column_types(state, values))
    attributes = [name for name in record if name.startswith(ATTRIBUTE_PREFIX) and record[name] is not None]
    if len(attributes) > MAX_ATTRIBUTES:
        raise ItemEditError(f"item {item_id!r} would have {len(attributes)} attributes; at most {MAX_ATTRIBUTES} are kept")
    _check_new_attribute_names(state, values)
    if photo_file is not None:
        record["image"], record["image_hash"] = str(photo_file[0]), photo_file[1]
    return Change(0, item_id, PUT, record, None if embedding is None else np.asarray(embedding, np.float16))


def _in_column_types(state: LiveState, values: dict) -> dict:
    """Values as the catalog's columns hold them: a number given for a text column is kept as text."""
    schema = state.base.table.table.schema

    def text_column(name: str) -> bool:
        if name not in schema.names:
            return False
        kind = schema.field(name).type
        kind = kind.value_type if pa.types.is_dictionary(kind) else kind
        return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)

    return {name: str(value) if name.startswith(ATTRIBUTE_PREFIX) and text_column(name) and isinstance(value, int | float)
            and not isinstance(value, bool) else value for name, value in values.items()}


def _new_record(state: LiveState, item_id: str) -> dict:
    record = {column: None for column in state.columns}
    record.update({name: "" for name in TEXT_FIELDS}, id=item_id, in_stock=True, price=None)
    return record


def _checked_fields(fields: Mapping) -> dict:
    """Item-table columns and values from an edit's fields; unknown fields are an error."""
    values = {}
    for name, value in fields.items():
        if name in ("id", "image"):
            continue
        if name == "attributes":
            values.update(_attributes(value))
        elif name == "price":
            values["price"] = _price(value)
        elif name in ("sizes", "sold_out_sizes"):
            if value is not None and not isinstance(value, str | list | tuple):
                raise ItemEditError(f"{name} must be a list of sizes or text such as S|M|L, not {value!r}")
            values[name] = "|".join(split_sizes(value))
        elif name == "in_stock":
            if not isinstance(value, bool | int | str) or isinstance(value, float):
                raise ItemEditError(f"in_stock must be true or false, not {value!r}")
            values["in_stock"] = is_in_stock(value)
        elif name in EDITABLE_FIELDS:
            if value is not None and not isinstance(value, str | int | float):
                raise ItemEditError(f"{name} must be text, not {type(value).__name__}")
            values[name] = "" if value is None else str(value).strip()
        else:
            raise ItemEditError(f"unknown item field {name!r}; use {', '.join(EDITABLE_FIELDS)} or attributes")
    return values


def _attributes(value) -> dict:
    if not isinstance(value, Mapping):
        raise ItemEditError("attributes must be an object of name: value")
    if len(value) > MAX_ATTRIBUTES:
        raise ItemEditError(f"{len(value)} attributes in one edit; at most {MAX_ATTRIBUTES} are kept per item")
    values = {}
    for key, attribute in value.items():
        if not isinstance(key, str) or not key or len(key) > 100:
            raise ItemEditError(f"attribute names are text of 1 to 100 characters, not {str(key)[:40]!r}")
        if attribute is not None and not isinstance(attribute, str | int | float | bool):
            raise ItemEditError(f"attribute {key!r} must be text, a number or a boolean")
        if isinstance(attribute, float) and not math.isfinite(attribute):
            raise ItemEditError(f"attribute {key!r} must be a finite number, not {attribute}")
        if isinstance(attribute, str) and len(attribute) > 2000:
            raise ItemEditError(f"attribute {key!r} is longer than 2,000 characters")
        values[ATTRIBUTE_PREFIX + key] = attribute
    return values


def _check_new_attribute_names(state: LiveState, values: dict) -> None:
    known = set(state.columns)
    new = [name for name in values if name.startswith(ATTRIBUTE_PREFIX) and name not in known]
    if not new:
        return
    count = sum(name.startswith(ATTRIBUTE_PREFIX) for name in known)
    if count + len(new) > MAX_STORE_ATTRIBUTES:
        raise ItemEditError(f"the catalog has {count} attribute names and this edit brings {len(new)} more "
                            f"({new[0].removeprefix(ATTRIBUTE_PREFIX)!r}, ...); edits may bring the catalog to at most "
                            f"{MAX_STORE_ATTRIBUTES}: reuse existing names, or add columns to the catalog file")


def _price(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ItemEditError(f"price must be a number, not {value!r}")
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


def _keep_photo(store_path: Path, source: ImageInput, new_files: list[Path]) -> tuple[Path, str]:
    """Save an uploaded photo under its content hash and format's extension (a temporary name, then a rename);
    the absolute path goes into the item table, so the store works from any working directory. A file it writes
    (not one kept already) goes into ``new_files``."""
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
        new_files.append(target)
    return target, digest
