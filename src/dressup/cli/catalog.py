"""Commands over a store's catalog: ``index``, ``similar``, ``info`` and ``encoders``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import DressUpError
from .common import (
    RESULT_COLUMNS,
    CategoryOption,
    ColourOption,
    DatabaseOption,
    GenderOption,
    MaxPriceOption,
    MinPriceOption,
    RichProgress,
    SizeOption,
    StoreOption,
    WhereOption,
    check_output_file,
    console,
    errors,
    item_summary,
    option_filters,
    print_table,
    user_errors,
    writing,
)


def index(
    source: Annotated[Path, typer.Argument(help="Catalog folder or table (CSV/Parquet).")],
    store: StoreOption,
    layout: Annotated[str, typer.Option(help="auto, fashion-product-images, hm, mango or generic.")] = "auto",
    encoder: Annotated[str | None,
                       typer.Option(help="Encoder name or model directory (default: the store's, else the built-in "
                                         "default).")] = None,
    id_column: Annotated[str | None, typer.Option(help="Generic tables: the id column.")] = None,
    image_column: Annotated[str | None, typer.Option(help="Generic tables: the image path column.")] = None,
    title_column: Annotated[str | None, typer.Option(help="Generic tables: the title column.")] = None,
    category_column: Annotated[str | None, typer.Option(help="Generic tables: the category column.")] = None,
    colour_column: Annotated[str | None, typer.Option(help="Generic tables: the colour column.")] = None,
    gender_column: Annotated[str | None, typer.Option(help="Generic tables: the gender column.")] = None,
    price_column: Annotated[str | None, typer.Option(help="Generic tables: the price column.")] = None,
    sizes_column: Annotated[str | None, typer.Option(help="Generic tables: the sizes column (S|M|L).")] = None,
    brand_column: Annotated[str | None, typer.Option(help="Generic tables: the brand column.")] = None,
    image_root: Annotated[Path | None,
                          typer.Option(help="Folder that relative image paths start from (default: the table's folder).")] = None,
    index_kind: Annotated[str, typer.Option(help="auto, flat or hnsw.")] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Images per model call.")] = 64,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Save embeddings for resuming every N images.")] = 1024,
    fuse: Annotated[list[str] | None,
                    typer.Option(help="Also search with ENCODER=WEIGHT (another image encoder, or text for titles); repeat. The "
                                      "main encoder weighs the rest.")] = None,
    no_fusion: Annotated[bool, typer.Option("--no-fusion", help="Drop the store's fused embeddings.")] = False,
    database: DatabaseOption = None,
):
    """Create or update a store from a catalog: embeds new and changed images only."""
    from ..catalog import CatalogSource
    from ..store import IndexConfig, index_catalog
    from ..store.fusion import parse_fusion

    given = {"id": id_column, "image": image_column, "title": title_column, "category": category_column, "colour": colour_column,
             "gender": gender_column, "price": price_column, "sizes": sizes_column, "brand": brand_column}
    columns = {name: column for name, column in given.items() if column}
    with user_errors():
        fusion = [] if no_fusion else (parse_fusion(fuse) if fuse else None)
    with user_errors(), RichProgress(units={"embedding": "img"}) as progress:
        catalog = CatalogSource(source, layout=layout, columns=columns, image_root=image_root)
        report = index_catalog(catalog, store, encoder=encoder, index_config=IndexConfig(kind=index_kind), batch_size=batch_size,
                               checkpoint_every=checkpoint_every, progress=progress, fusion=fusion, database_url=database)
    console.print(
        f"[green]{store}[/]: {report.items:,} items ({report.layout} layout, {report.generation}); added {report.added:,}, "
        f"image changed {report.updated_images:,}, removed {report.removed:,}, unchanged {report.unchanged:,}; "
        f"embedded {report.embedded:,} at {report.images_per_second:,.0f} img/s"
        + (f"; resumed {report.resumed:,} from an interrupted run" if report.resumed else "")
        + ("; every image embedded again: the encoder changed" if report.encoder_changed else "")
        + (f"; {report.journaled:,} change(s) written to the catalog journal" if report.journaled else "")
    )
    _list_unreadable(store, report.unreadable)


def _list_unreadable(store: Path, unreadable: list[tuple[str, str]]) -> None:
    listing = store / "reports" / "unreadable-images.txt"
    listing.unlink(missing_ok=True)
    if not unreadable:
        return
    listing.parent.mkdir(exist_ok=True)
    listing.write_text("".join(f"{item}\t{message}\n" for item, message in unreadable))
    errors.print(f"[yellow]skipped {len(unreadable):,} unreadable image(s)[/], listed in {listing}:")
    for item, message in unreadable[:10]:
        errors.print(f"  {item}: {message}", highlight=False, markup=False)
    if len(unreadable) > 10:
        errors.print(f"  ... and {len(unreadable) - 10:,} more")


def similar(
    store: StoreOption,
    item: Annotated[str | None, typer.Option("--item", "-i", help="Id of a stored item.")] = None,
    image: Annotated[Path | None, typer.Option(help="Path of a photo.")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="Every item's similar items, as JSON lines.")] = False,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many results.")] = 10,
    where: WhereOption = None,
    category: CategoryOption = None,
    gender: GenderOption = None,
    colour: ColourOption = None,
    min_price: MinPriceOption = None,
    max_price: MaxPriceOption = None,
    size: SizeOption = None,
    look: Annotated[bool, typer.Option("--look", help="With --image: shop the look, the similar items of each garment "
                                                    "in the photo.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="With --all: the JSON-lines file to write.")] = None,
):
    """Items most similar to a stored item, a photo, or (with --all) every item."""
    from ..shop import Shop

    with user_errors():
        _check_similar_options(item, image, all_items, as_json, output)
        if look and image is None:
            raise DressUpError("--look goes with --image PHOTO")
        filters = option_filters(where, category, gender, colour, min_price, max_price, size)
        generation = Shop(store).generation
        if all_items:
            _similar_all(generation.store, k, filters, output)
            return
        if look:
            _print_look(generation, image, generation.look(image, k, filters), as_json)
            return
        if item is not None:
            found = generation.similar_to_item(item, k, filters)
        else:
            found = generation.similar_to_photo(image, k, filters)
        rows = [{"id": m.id, "score": round(m.score, 4), **item_summary(generation.store, m.row)} for m in found]
        if as_json:
            print(json.dumps({"query": item or str(image), "items": rows}, indent=2, default=str))
            return
        print_table(f"similar to {item or image}", list(RESULT_COLUMNS), rows)
        if len(rows) < k:
            errors.print(f"only {len(rows)} item(s) satisfy the filters")


def _print_look(generation, image: Path, garments, as_json: bool) -> None:
    def rows(matches):
        return [{"id": m.id, "score": round(m.score, 4), **item_summary(generation.store, m.row)} for m in matches]

    if as_json:
        print(json.dumps({"query": str(image), "garments": [
            {"type": g.garment.type, "box": list(g.garment.box), "confidence": g.garment.confidence,
             "items": rows(g.matches)} for g in garments]}, indent=2, default=str))
        return
    if not garments:
        errors.print(f"{image}: no garment found in the photo")
    for g in garments:
        print_table(f"{g.garment.type} ({g.garment.confidence:.0%}) at {list(g.garment.box)}", list(RESULT_COLUMNS),
                    rows(g.matches))


def _check_similar_options(item, image, all_items, as_json, output) -> None:
    """One query, and --output with --all only (checked before any work)."""
    if sum([item is not None, image is not None, all_items]) != 1:
        raise DressUpError("give exactly one of --item, --image or --all")
    if all_items and output is None:
        raise DressUpError("--all needs --output FILE.jsonl")
    if all_items and as_json:
        raise DressUpError("--all always writes JSON lines to --output; drop --json")
    if output is not None and not all_items:
        raise DressUpError("--output goes with --all; for one item, print JSON with --json")
    if output is not None:
        check_output_file(output)


def _similar_all(store, k, filters, output):
    from ..files import atomic_path

    with RichProgress(stderr=True) as progress, writing(output), atomic_path(output) as temporary, open(temporary, "w") as handle:
        for done, (item_id, matches) in enumerate(store.similar_all(k=k, filters=filters), start=1):
            handle.write(json.dumps({"item": item_id,
                                     "similar": [{"id": m.id, "score": round(m.score, 6)} for m in matches]}) + "\n")
            progress.update("similar", done, len(store))
    errors.print(f"wrote {len(store):,} lines to {output}")


def encoders():
    """List the built-in encoders."""
    from rich.table import Table

    from ..encoders import list_encoders

    table = Table(title="image encoders")
    for column in ("name", "dimension", "input", "base weights", "licence"):
        table.add_column(column)
    for spec in list_encoders():
        table.add_row(spec.name, str(spec.dimension), f"{spec.input_size}px", spec.base_weights, spec.licence)
    console.print(table)


def info(
    store: StoreOption,
    as_json: Annotated[bool, typer.Option("--json", help="The whole manifest as JSON, for scripts.")] = False,
):
    """Summarise a store: its catalog, encoder, index and what it can serve."""
    from rich.table import Table

    from ..store import read_manifest

    with user_errors():
        manifest = read_manifest(store)
    if as_json:
        print(json.dumps(manifest, indent=2))
        return
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in store_summary(Path(store), manifest):
        table.add_row(name, value)
    console.print(table)


def store_summary(store: Path, manifest: dict) -> list[tuple[str, str]]:
    """(what, value) lines about a store, from its manifest and the files beside it."""
    from ..outfits.model import MODEL_DIR

    counts, encoder, index = manifest.get("counts", {}), manifest.get("encoder", {}), manifest.get("index", {})
    generation = store / str(manifest.get("generation", ""))
    unreadable = counts.get("unreadable_images", 0)
    return [
        ("store", f"{store}  (id {manifest.get('store_id', '?')})"),
        ("catalog", f"{counts.get('items', 0):,} items" + (f", {unreadable:,} unreadable photos" if unreadable else "")
         + f"; layout {manifest.get('layout', '?')}; from {manifest.get('source', {}).get('path', '?')}"),
        ("generation", f"{manifest.get('generation', '?')}, updated {manifest.get('updated_at', '?')}"),
        ("encoder", f"{encoder.get('name', '?')} ({encoder.get('dimension', '?')} dimensions)"
         + (f"; fused with {', '.join(manifest['fusion'])}" if manifest.get("fusion") else "")),
        ("index", f"{index.get('kind', '?')}, {index.get('vectors', 0):,} vectors of {index.get('dimension', '?')}"),
        ("text search", "keywords and photos" if (generation / "keywords").is_dir() else "photos only (re-index for keywords)"),
        ("outfits", "trained model" if (store / MODEL_DIR / "model.json").is_file() else "none (dressup outfits train)"),
        ("events", "users.sqlite" if (store / "users.sqlite").is_file() else "none yet (or a --database URL)"),
        ("versions", ", ".join(f"{name} {version}" for name, version in manifest.get("versions", {}).items())),
    ]


COMMANDS = [index, similar, encoders, info]
