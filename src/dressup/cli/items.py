"""``dressup items``: catalog edits from scripts, one item or a JSON-lines file of them, and ``dressup compact``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import DressUpError
from .common import DatabaseOption, StoreOption, console, jsonl_records, user_errors

app = typer.Typer(help="Add, change or remove catalog items in place (served at once by running servers).",
                  no_args_is_help=True)

ItemOption = Annotated[str | None, typer.Option("--id", help="The item's id.")]
FileOption = Annotated[Path | None, typer.Option("--file", "-f", help='JSON lines {"id", fields..., "image"?}, all applied '
                                                  "or none (image paths are relative to the file).")]
ImageOption = Annotated[Path | None, typer.Option(help="The item's photo.")]
Field = Annotated[str | None, typer.Option()]


def _fields(title, category, subcategory, colour, gender, price, sizes, brand, in_stock, sold_out_sizes, attribute) -> dict:
    given = {"title": title, "category": category, "subcategory": subcategory, "colour": colour, "gender": gender,
             "price": price, "sizes": sizes, "brand": brand, "in_stock": in_stock, "sold_out_sizes": sold_out_sizes}
    fields = {name: value for name, value in given.items() if value is not None}
    attributes = {}
    for setting in attribute or []:
        name, sep, value = setting.partition("=")
        if not sep or not name.strip():
            raise DressUpError(f"malformed attribute {setting!r}: use NAME=VALUE")
        attributes[name.strip()] = value.strip()
    if attributes:
        fields["attributes"] = attributes
    return fields


def _edits(operation: str, item_id: str | None, file: Path | None, fields: dict, image: Path | None):
    from ..store.editing import Edit

    if (item_id is None) == (file is None):
        raise DressUpError("give --id for one item or --file for a JSON-lines file of them")
    if file is None:
        return [Edit(operation, item_id, fields, image)]
    if fields or image is not None:
        raise DressUpError("with --file, each line holds the item's fields; drop the field options")
    edits = []
    for _, record in jsonl_records(file):
        record = dict(record)
        photo = record.pop("image", None)
        photo = None if photo is None else (file.parent / photo if not Path(photo).is_absolute() else Path(photo))
        edits.append(Edit(operation, record.pop("id"), record if operation != "remove" else {}, photo))
    if not edits:
        raise DressUpError(f"{file}: no item lines")
    return edits


def _run(store: Path, database: str | None, edits) -> int:
    from ..store import Store
    from ..store.editing import apply_edits

    opened = Store.open(store, database)
    try:
        apply_edits(opened, edits, database_url=database)
    finally:
        opened.close()
    return len(edits)


def _command(operation: str, verb: str):
    def command(
        store: StoreOption,
        item_id: ItemOption = None,
        file: FileOption = None,
        image: ImageOption = None,
        title: Field = None, category: Field = None, subcategory: Field = None, colour: Field = None, gender: Field = None,
        price: Annotated[float | None, typer.Option()] = None,
        sizes: Annotated[str | None, typer.Option(help="S|M|L")] = None,
        brand: Field = None,
        in_stock: Annotated[bool | None, typer.Option("--in-stock/--out-of-stock", help="Whether it can be bought now.")] = None,
        sold_out_sizes: Annotated[str | None, typer.Option(help="Sizes out of stock, S|M.")] = None,
        attribute: Annotated[list[str] | None, typer.Option(help="NAME=VALUE; repeat.")] = None,
        database: DatabaseOption = None,
    ):
        with user_errors():
            fields = _fields(title, category, subcategory, colour, gender, price, sizes, brand, in_stock, sold_out_sizes,
                             attribute)
            done = _run(store, database, _edits(operation, item_id, file, fields, image))
        console.print(f"[green]{store}[/]: {verb} {done:,} item(s)")
    return command


def remove(
    store: StoreOption,
    item_id: ItemOption = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help='JSON lines {"id"}, all removed or none.')] = None,
    database: DatabaseOption = None,
):
    """Remove items from the catalog and the index."""
    with user_errors():
        done = _run(store, database, _edits("remove", item_id, file, {}, None))
    console.print(f"[green]{store}[/]: removed {done:,} item(s)")


app.command("add", help="Add items with their photos (new ids only).")(_command("add", "added"))
app.command("update", help="Change items' fields, stock or photo (fields not given keep their values).")(
    _command("update", "updated"))
app.command("remove")(remove)


def compact(store: StoreOption, database: DatabaseOption = None):
    """Fold the catalog journal's changes into a new base generation (servers do it on their own, in the background)."""
    from ..store.compaction import compact as compact_store

    with user_errors():
        report = compact_store(store, database, wait=60.0)
    if report is None:
        console.print(f"{store}: nothing to compact")
    else:
        console.print(f"[green]{store}[/]: {report.folded:,} change(s) folded into {report.generation} ({report.rows:,} rows"
                      + (", index rebuilt" if report.rebuilt else "") + ")")


COMMANDS = [compact]
