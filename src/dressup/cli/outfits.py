"""``dressup outfits``: learn outfits from stylists, complete them, answer and score them in batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import DressUpError
from .common import (
    BudgetOption,
    RichProgress,
    StoreOption,
    WhereOption,
    cell,
    check_output_file,
    console,
    errors,
    extra_needed,
    item_summary,
    jsonl_records,
    user_errors,
    write_jsonl,
)

app = typer.Typer(help="Complete outfits learned from stylists' outfits.", no_args_is_help=True)


@app.command("train")
def outfits_train(
    store: StoreOption,
    outfits: Annotated[Path,
                       typer.Option("--outfits",
                                    help="Table of (outfit id, item id): Mango's outfits.csv or outfit,item columns.")],
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    threads: Annotated[int | None, typer.Option(
        min=1, help="Threads to train with (default: the cores free at the start).")] = None,
):
    """Learn outfit compatibility from stylists' outfits; the model is saved in the store."""
    with user_errors():
        with extra_needed("train", "training needs torch"):
            from ..training import OutfitTrainConfig, train_outfit_model
        with RichProgress() as progress:
            model = train_outfit_model(store, outfits, OutfitTrainConfig(epochs=epochs, threads=threads), progress=progress)
        info = model.compatibility.info
        console.print(
            f"[green]{store}[/]: outfit model from {info['outfits']:,} outfits over {info['items_in_outfits']:,} items "
            f"in {info['seconds']:.0f} s on {info['threads']} thread(s); {len(model.templates):,} slot combinations"
            + (f"; {info['unknown_items']:,} outfit rows name items the store lacks" if info.get("unknown_items") else "")
        )


@app.command("complete")
def outfits_complete(
    store: StoreOption,
    more: Annotated[list[str] | None,
                    typer.Argument(help="More ids or photo paths, as in --items ID ID ... --image PATH PATH ...",
                                                     show_default=False, metavar="[IDS_OR_PHOTOS]...")] = None,
    items: Annotated[list[str] | None,
                     typer.Option("--items", help="Item ids in the cart or wardrobe (several after one --items).")] = None,
    image: Annotated[list[Path] | None, typer.Option("--image", help="A photo of an item to build around; repeat.")] = None,
    n: Annotated[int, typer.Option("-n", min=1, max=50, help="How many outfits.")] = 5,
    where: WhereOption = None,
    gender: Annotated[str | None, typer.Option(help="Only products for this gender.")] = None,
    budget: BudgetOption = None,
    size: Annotated[str | None, typer.Option(help="Only products sold in this size.")] = None,
    exclude_category: Annotated[list[str] | None, typer.Option(help="Never add products of this category; repeat.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables.")] = False,
):
    """Complete outfits around the given items, with products from the catalog."""
    from ..shop import Shop
    from ..store import Filters

    with user_errors():
        excluded = [f"category!={c}" for c in exclude_category or []]
        expressions = [*(where or []), *([f"gender={gender}"] if gender else []), *excluded]
        filters = Filters.parse(expressions, size=size)
        generation = Shop(store).generation
        model = generation.outfit_model
        ids = [part for value in items or [] for part in value.replace(",", " ").split()]
        photos = list(image or [])
        for value in more or []:  # click gives one value per option: the rest arrive here
            if value not in model.store and Path(value).is_file():
                photos.append(Path(value))
            else:
                ids.append(value)
        outfits = generation.outfits(ids, n=n, filters=filters, budget=budget, images=photos)
        if as_json:
            print(json.dumps({"outfits": [_outfit_json(model, o) for o in outfits]}, indent=2, default=str))
        else:
            for number, outfit in enumerate(outfits, 1):
                _print_outfit(model, number, outfit)
        if len(outfits) < n:
            errors.print(f"only {len(outfits)} outfit(s) could be completed with these filters")


def _print_outfit(model, number: int, outfit) -> None:
    total = f", total {outfit.total_price:.2f}" if outfit.total_price else ""
    source = f"the stylists' outfit {outfit.look}" if outfit.source == "stylist" else "generated"
    table = Table(title=f"outfit {number} ({source}): score {outfit.score:.3f}{total}")
    for column in ("id", "slot", "type", "title", "price", "fit"):
        table.add_column(column)
    for item in outfit.items:
        product = model.state.item(item.id) if item.id else None
        table.add_row(item.id or "(photo)", item.slot, "" if product is None else product.category,
                      "" if product is None else product.title, cell(item.price), _fit(item))
    console.print(table)


def _fit(item) -> str:
    if item.given:
        return "given"
    return f"{item.score:.3f}" + (f" (for {item.replaces})" if item.replaces else "")


def _outfit_json(model, outfit) -> dict:
    items = []
    for item in outfit.items:
        entry = {"id": item.id, "slot": item.slot, "given": item.given, "score": item.score, "price": item.price,
                 "replaces": item.replaces}
        if item.id:
            entry.update(item_summary(model.state, model.state.row(item.id)))
        items.append(entry)
    return {"source": outfit.source, "look": outfit.look, "score": outfit.score, "total_price": outfit.total_price,
            "items": items}


def _answer_lines(store: Path, path: Path, output: Path, ids_of, answer, empty: dict, what: str) -> None:
    """Answer each JSON line of ``path`` into ``output``; lines naming unknown items are reported, not answered.

    ``ids_of(number, record)`` validates a line and returns the item ids it names; ``answer(model, record)``
    returns the fields to write; ``empty`` holds the fields of an unanswered line.
    """
    from ..shop import Shop

    check_output_file(output)
    model = Shop(store).generation.outfit_model
    lines, problems = [], 0
    for number, record in jsonl_records(path):
        ids = [str(i) for i in ids_of(number, record)]
        unknown = [i for i in ids if i not in model.store]
        if unknown:
            problems += 1
            errors.print(f"{what} {record['id']}: unknown item(s) {', '.join(unknown[:5])}; not answered", highlight=False)
            lines.append({"id": record["id"], **empty, "error": f"unknown item(s): {', '.join(unknown)}"})
            continue
        lines.append({"id": record["id"], **answer(model, record)})
    write_jsonl(output, lines)
    unanswered = f"; {problems:,} {what}(s) not answered (unknown items)" if problems else ""
    console.print(f"wrote {len(lines):,} lines to {output}{unanswered}")
    if problems:
        raise typer.Exit(1)


@app.command("fitb")
def outfits_fitb(
    store: StoreOption,
    questions: Annotated[Path, typer.Argument(help='JSON lines {"id", "outfit": \\[ids], "candidates": \\[ids]}.')],
    output: Annotated[Path, typer.Option("--output", "-o", help='JSON lines {"id", "answer", "scores"} to write.')],
):
    """Fill in the blank: which candidate completes each outfit."""

    def ids_of(number, record):
        outfit, candidates = record.get("outfit"), record.get("candidates")
        if not isinstance(outfit, list) or not isinstance(candidates, list) or not outfit or not candidates:
            raise DressUpError(f"{questions}:{number}: needs non-empty lists \"outfit\" and \"candidates\"")
        return outfit + candidates

    def answer(model, record):
        best, scores = model.fitb([str(i) for i in record["outfit"]], [str(i) for i in record["candidates"]])
        return {"answer": best, "scores": scores}

    with user_errors():
        _answer_lines(store, questions, output, ids_of, answer, {"answer": None, "scores": None}, "question")


@app.command("score")
def outfits_score(
    store: StoreOption,
    outfits: Annotated[Path, typer.Argument(help='JSON lines {"id", "items": \\[ids]}.')],
    output: Annotated[Path, typer.Option("--output", "-o", help='JSON lines {"id", "score"} to write.')],
):
    """Compatibility score of each outfit (higher = more compatible)."""

    def ids_of(number, record):
        items = record.get("items")
        if not isinstance(items, list) or len(items) < 2:
            raise DressUpError(f"{outfits}:{number}: needs \"items\", a list of at least 2 ids")
        return items

    def answer(model, record):
        return {"score": round(model.score([str(i) for i in record["items"]]), 6)}

    with user_errors():
        _answer_lines(store, outfits, output, ids_of, answer, {"score": None}, "outfit")
