"""The `dressup` command line: a thin layer over the library."""

from __future__ import annotations

import json
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from .errors import DressUpError

app = typer.Typer(help="DressUp: similar items, recommendations and outfits for a fashion catalog.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure quality on held-out data.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
outfits_app = typer.Typer(help="Complete outfits learned from stylists' outfits.", no_args_is_help=True)
app.add_typer(outfits_app, name="outfits")
# "\\[" keeps Rich from reading "[train]" as markup (and showing nothing)
train_app = typer.Typer(help="Train models on the shop's own data (needs the \\[train] extra).", no_args_is_help=True)
app.add_typer(train_app, name="train")
events_app = typer.Typer(help="Users' events (likes, ratings, purchases ...): import and record them.", no_args_is_help=True)
app.add_typer(events_app, name="events")
users_app = typer.Typer(help="Users' accounts for the REST API.", no_args_is_help=True)
app.add_typer(users_app, name="users")

console = Console()
errors = Console(stderr=True, soft_wrap=True)

StoreOption = Annotated[Path, typer.Option("--store", "-s", help="Store directory.")]
DatabaseOption = Annotated[str | None, typer.Option(
    "--database", envvar="DRESSUP_DATABASE_URL", help="Database URL for users and events (default: STORE/users.sqlite).")]
SetOption = Annotated[list[str] | None, typer.Option("--set", help="Recommender setting NAME=VALUE (e.g. diversity=0.3); repeat.")]
WhereOption = Annotated[list[str] | None, typer.Option("--where", "-w", help="Filter column=value or column!=value; repeat for more.")]


def _price(value: float | None) -> float | None:
    """A price option's value: a finite number, 0 or more (as the REST API asks)."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"{value:g} is not a price; give a number of 0 or more")
    return value


MinPriceOption = Annotated[float | None, typer.Option(callback=_price, help="Lowest price.")]
MaxPriceOption = Annotated[float | None, typer.Option(callback=_price, help="Highest price (budget).")]


@contextmanager
def user_errors():
    """Turn DressUp's errors into one red line and exit status 1."""
    try:
        yield
    except DressUpError as error:
        errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, markup=True)  # "[train]" is text, not markup
        raise typer.Exit(1) from None


class _RateColumn(TextColumn):
    def __init__(self):
        super().__init__("")

    def render(self, task):
        speed = task.finished_speed or task.speed
        return super().render(task) if speed is None else TextColumn(f"{speed:,.0f} img/s").render(task)


@app.command()
def index(
    source: Annotated[Path, typer.Argument(help="Catalog folder or table (CSV/Parquet).")],
    store: StoreOption,
    layout: Annotated[str, typer.Option(help="auto, fashion-product-images, hm, mango or generic.")] = "auto",
    encoder: Annotated[str | None, typer.Option(help="Encoder name or model directory (default: the store's, else the built-in default).")] = None,
    id_column: Annotated[str | None, typer.Option(help="Generic tables: the id column.")] = None,
    image_column: Annotated[str | None, typer.Option(help="Generic tables: the image path column.")] = None,
    title_column: Annotated[str | None, typer.Option(help="Generic tables: the title column.")] = None,
    category_column: Annotated[str | None, typer.Option(help="Generic tables: the category column.")] = None,
    colour_column: Annotated[str | None, typer.Option(help="Generic tables: the colour column.")] = None,
    gender_column: Annotated[str | None, typer.Option(help="Generic tables: the gender column.")] = None,
    price_column: Annotated[str | None, typer.Option(help="Generic tables: the price column.")] = None,
    sizes_column: Annotated[str | None, typer.Option(help="Generic tables: the sizes column (S|M|L).")] = None,
    brand_column: Annotated[str | None, typer.Option(help="Generic tables: the brand column.")] = None,
    image_root: Annotated[Path | None, typer.Option(help="Folder that relative image paths start from (default: the table's folder).")] = None,
    index_kind: Annotated[str, typer.Option(help="auto, flat or hnsw.")] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Images per model call.")] = 64,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Save embeddings for resuming every N images.")] = 1024,
    fuse: Annotated[list[str] | None, typer.Option(help="Also search with ENCODER=WEIGHT (another image encoder, or text for titles); repeat. The main encoder weighs the rest.")] = None,
    no_fusion: Annotated[bool, typer.Option("--no-fusion", help="Drop the store's fused embeddings.")] = False,
):
    """Create or update a store from a catalog: embeds new and changed images only."""
    from .catalog import CatalogSource
    from .fusion import parse_fusion
    from .index import IndexConfig
    from .indexing import index_catalog

    given = {"id": id_column, "image": image_column, "title": title_column, "category": category_column, "colour": colour_column,
             "gender": gender_column, "price": price_column, "sizes": sizes_column, "brand": brand_column}
    columns = {name: column for name, column in given.items() if column}
    with user_errors():
        fusion = [] if no_fusion else (parse_fusion(fuse) if fuse else None)
    with user_errors(), Progress(
        TextColumn("embedding"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), _RateColumn(), TimeRemainingColumn(),
        console=console, transient=False,
    ) as bar:
        task = bar.add_task("embedding", total=None)
        report = index_catalog(
            CatalogSource(source, layout=layout, columns=columns, image_root=image_root),
            store,
            encoder=encoder,
            index_config=IndexConfig(kind=index_kind),
            batch_size=batch_size,
            checkpoint_every=checkpoint_every,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            fusion=fusion,
        )
        bar.update(task, total=max(report.embedded, 1), completed=max(report.embedded, 1))
    console.print(
        f"[green]{store}[/]: {report.items:,} items ({report.generation}); added {report.added:,}, "
        f"image changed {report.updated_images:,}, removed {report.removed:,}, unchanged {report.unchanged:,}; "
        f"embedded {report.embedded:,} at {report.images_per_second:,.0f} img/s"
        + (f"; resumed {report.resumed:,} from an interrupted run" if report.resumed else "")
        + ("; every image embedded again: the encoder changed" if report.encoder_changed else "")
    )
    listing = store / "reports" / "unreadable-images.txt"
    listing.unlink(missing_ok=True)
    if report.unreadable:
        listing.parent.mkdir(exist_ok=True)
        listing.write_text("".join(f"{item}\t{message}\n" for item, message in report.unreadable))
        errors.print(f"[yellow]skipped {len(report.unreadable):,} unreadable image(s)[/], listed in {listing}:")
        for item, message in report.unreadable[:10]:
            errors.print(f"  {item}: {message}", highlight=False, markup=False)
        if len(report.unreadable) > 10:
            errors.print(f"  ... and {len(report.unreadable) - 10:,} more")


def _filters(where, category, gender, colour, min_price, max_price, size):
    from .filters import Filters

    if min_price is not None and max_price is not None and min_price > max_price:
        raise typer.BadParameter(f"the lowest price ({min_price:g}) is above the highest ({max_price:g})",
                                 param_hint="'--min-price' / '--max-price'")
    expressions = list(where or [])
    for column, value in (("category", category), ("gender", gender), ("colour", colour)):
        if value:
            expressions.append(f"{column}={value}")
    return Filters.parse(expressions, min_price=min_price, max_price=max_price, size=size)


@app.command()
def similar(
    store: StoreOption,
    item: Annotated[str | None, typer.Option("--item", "-i", help="Id of a stored item.")] = None,
    image: Annotated[Path | None, typer.Option(help="Path of a photo.")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="Every item's similar items, as JSON lines.")] = False,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many results.")] = 10,
    where: WhereOption = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    gender: Annotated[str | None, typer.Option(help="Only this gender.")] = None,
    colour: Annotated[str | None, typer.Option("--colour", "--color", help="Only this colour.")] = None,
    min_price: MinPriceOption = None,
    max_price: MaxPriceOption = None,
    size: Annotated[str | None, typer.Option(help="Only items sold in this size.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="With --all: the JSON-lines file to write.")] = None,
):
    """Items most similar to a stored item, a photo, or (with --all) every item."""
    from .store import Store

    with user_errors():
        _check_similar_options(item, image, all_items, as_json, output)
        filters = _filters(where, category, gender, colour, min_price, max_price, size)
        opened = Store.open(store)
        if all_items:
            _similar_all(opened, k, filters, output)
            return
        matches = opened.similar(item=item, image=image, k=k, filters=filters)
        rows = [{"id": m.id, "score": round(m.score, 4), **_summary(opened, m.row)} for m in matches]
        if as_json:
            print(json.dumps({"query": item or str(image), "items": rows}, indent=2, default=str))
            return
        table = Table(title=f"similar to {item or image}", show_lines=False)
        for column in ("id", "score", "title", "category", "colour", "gender", "price"):
            table.add_column(column, justify="right" if column in ("score", "price") else "left")
        for row in rows:
            table.add_row(*(_cell(row.get(c)) for c in ("id", "score", "title", "category", "colour", "gender", "price")))
        console.print(table)
        if len(rows) < k:
            hint = ""
            if (min_price is not None or max_price is not None) and opened.items["price"].isna().all():
                hint = " (no item of this store has a price)"
            errors.print(f"only {len(rows)} item(s) satisfy the filters{hint}")


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
        _check_output_file(output)


def _similar_all(store, k, filters, output):
    from .files import atomic_path

    with Progress(TextColumn("similar"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task("similar", total=len(store))
        with _writing(output), atomic_path(output) as temporary, open(temporary, "w") as handle:
            for item_id, matches in store.similar_all(k=k, filters=filters):
                handle.write(json.dumps({"item": item_id, "similar": [{"id": m.id, "score": round(m.score, 6)} for m in matches]}) + "\n")
                bar.advance(task)
    errors.print(f"wrote {len(store):,} lines to {output}")


def _summary(store, row) -> dict:
    import pandas as pd

    item = store.items.iloc[row]
    price = item["price"]
    return {"title": item["title"], "category": item["category"], "colour": item["colour"], "gender": item["gender"],
            "price": None if pd.isna(price) else float(price), "image": item["image"]}


def _write_report(folder: Path, name: str, report: dict) -> Path:
    """Write a JSON report into ``folder`` (created if needed); returns the folder."""
    from .files import atomic_write

    with _writing(folder / name):
        atomic_write(folder / name, json.dumps(report, indent=2))
    return folder


def _check_output_file(path: Path) -> None:
    """Fail now, before any work, where ``path`` cannot be written as a file."""
    if path.is_dir():
        raise DressUpError(f"cannot write {path}: it is a folder; give a file name")
    _check_output_folder(path.parent, writing=path)


def _check_output_folder(folder: Path, writing: Path | None = None) -> None:
    """Fail now, before any work, where ``folder`` cannot be created or written into."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    what = f"write {writing}" if writing else f"write into {folder}"
    if not existing.is_dir():
        raise DressUpError(f"cannot {what}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DressUpError(f"cannot {what}: no permission to write in {existing}")


@contextmanager
def _writing(path: Path):
    """Create ``path``'s folder; a failing write (disk full ...) is one clear message, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield
    except OSError as error:
        raise DressUpError(f"cannot write {path}: {error.strerror or error}") from None


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@app.command()
def encoders():
    """List the built-in image encoders."""
    from .encoders import list_encoders

    table = Table(title="image encoders")
    for column in ("name", "dimension", "input", "base weights", "licence"):
        table.add_column(column)
    for spec in list_encoders():
        table.add_row(spec.name, str(spec.dimension), f"{spec.input_size}px", spec.base_weights, spec.licence)
    console.print(table)


@app.command()
def info(store: StoreOption):
    """Show a store's manifest."""
    from .store import read_manifest

    with user_errors():
        print(json.dumps(read_manifest(store), indent=2))


@eval_app.command("retrieval")
def eval_retrieval(
    store: StoreOption,
    label: Annotated[list[str], typer.Option("--label", "-l", help="Label column a similar item should share; repeat.")],
    k: Annotated[int, typer.Option("-k", min=1)] = 10,
    split_file: Annotated[Path | None, typer.Option(help="Table (id, split): queries are its test items; gallery is the whole store.")] = None,
    split: Annotated[str, typer.Option(help="Which split of the split file to query with.")] = "test",
    results: Annotated[Path | None, typer.Option(help="Score a `similar --all` JSON-lines file instead of searching.")] = None,
    output_dir: Annotated[Path | None, typer.Option(help="Where to write the JSON report and PNG (default STORE/reports).")] = None,
):
    """Precision@k of similar items per label and jointly, with a PNG of sample queries."""
    from .evaluation import evaluate_retrieval, plot_retrieval_samples, read_results, read_split_queries
    from .store import Store

    with user_errors():
        _check_output_folder(output_dir or store / "reports")
        opened = Store.open(store)
        queries = read_split_queries(opened, split_file, split) if split_file else None
        precomputed = read_results(opened, results) if results else None
        report, query_rows, found = evaluate_retrieval(opened, label, k=k, query_rows=queries, results=precomputed)
        table = Table(title=f"retrieval: {report.queries:,} queries, gallery {report.gallery:,}, encoder {report.encoder}")
        table.add_column("label")
        table.add_column(f"P@{k}", justify="right")
        for name, value in report.precision.items():
            table.add_row(name, f"{value:.4f}")
        console.print(table)
        folder = _write_report(output_dir or store / "reports", "retrieval.json", report.to_dict())
        picture = plot_retrieval_samples(opened, query_rows, found, label[0], folder / "retrieval-samples.png")
        console.print(f"wrote {folder / 'retrieval.json'} and {picture}")


def _progress(*columns, stderr: bool = False, transient: bool = False) -> Progress:
    """The usual progress display: step, bar, done/total, any extra ``columns``, time left."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), *columns, TimeRemainingColumn(),
                    console=Console(stderr=True) if stderr else console, transient=transient)


@contextmanager
def _train_extra(what: str):
    """Imports of the `[train]` extra: a missing torch or scikit-learn is one clear message."""
    try:
        yield
    except ImportError as error:
        raise DressUpError(f"{what}: pip install 'dressup[train]' ({error})") from None


@train_app.command("encoder")
def train_encoder_command(
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog folder or table with labelled product images.")],
    out: Annotated[Path, typer.Option("--out", help="Model directory to write (usable as --encoder).")],
    labels: Annotated[str, typer.Option(help="Comma-separated label columns; the first (see --contrastive-labels) also shapes the embedding.")] = "articleType,baseColour,gender,usage,season",
    split_file: Annotated[Path | None, typer.Option(help="Table (id, split): trains on train, stops early on val, never reads test (default: splits.csv beside the catalog, else a random 10% val).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs; early stopping may end sooner.")] = 14,
    patience: Annotated[int, typer.Option(min=1, help="Stop after this many epochs without a better validation score.")] = 4,
    batch_size: Annotated[int, typer.Option(min=2)] = 64,
    views: Annotated[int, typer.Option(min=1, help="Cached views per image (1 plain + augmented ones).")] = 3,
    frozen_blocks: Annotated[int, typer.Option(min=1, max=17, help="MobileNetV2 blocks kept frozen (precomputed once).")] = 7,
    max_batches: Annotated[int | None, typer.Option(help="Stop each epoch after N batches (smoke tests).")] = None,
    input_size: Annotated[int, typer.Option(help="Pixels the model sees (square).")] = 192,
    resize_size: Annotated[int | None, typer.Option(help="Resize to this before a centre crop of --input-size (0: no crop).")] = 224,
    val_holdout: Annotated[int | None, typer.Option(min=1, help="Keep only N val items for early stopping and train on the rest of them.")] = None,
    name: Annotated[str, typer.Option(help="Name recorded in the model's spec.")] = "fashion-mobilenetv2",
    contrastive_labels: Annotated[int, typer.Option(min=1, help="Items sharing the first N labels are pulled together in the embedding.")] = 1,
    device: Annotated[str, typer.Option(help="cpu, or cuda on a machine with a GPU (same result, faster).")] = "cpu",
    tag_labels: Annotated[str | None, typer.Option(help="Comma-separated labels `dressup tag` shows (default: all of --labels).")] = None,
    colour_label: Annotated[str, typer.Option(help="Label that gets a colour stage at the end (`dressup train colour`): auto (the first shown label named *colour*), a label, or none.")] = "auto",
):
    """Fine-tune the image encoder on a catalog: one head per label + a metric-learning loss.

    Re-running the same command resumes from the last finished epoch.
    """
    with user_errors():
        with _train_extra("training needs torch"):
            from .training import TrainConfig, train_encoder
        config = TrainConfig(
            catalog=str(catalog), labels=tuple(x.strip() for x in labels.split(",") if x.strip()), split_file=str(split_file) if split_file else None,
            name=name, epochs=epochs, patience=patience, batch_size=batch_size, views=views, first_trained_block=frozen_blocks, max_batches=max_batches,
            input_size=input_size, resize_size=resize_size or None, val_holdout=val_holdout, contrastive_labels=contrastive_labels,
            device=device, tag_labels=tuple(x.strip() for x in tag_labels.split(",") if x.strip()) if tag_labels else None,
            colour_label=None if colour_label.lower() == "none" else colour_label,
        )
        with _progress(TextColumn("{task.fields}")) as bar:
            result = train_encoder(config, out, progress=bar)
        resumed = f", resumed after epoch {result.resumed_from}" if result.resumed_from else ""
        if result.colour_stage:
            _print_colour_stage(result.colour_stage)
        console.print(
            f"[green]{result.model_dir}[/]: {result.epochs_run} epochs (best {result.best_epoch}) in {result.seconds / 60:.1f} min{resumed}; "
            f"use it with `dressup index ... --encoder {result.model_dir}`"
        )


def _print_colour_stage(report) -> None:
    tried = ", ".join(f"C={c:g}: {a:.3f}" for c, a in report.tried.items())
    verdict = (f"[green]kept[/] (C={report.strength:g}), refitted on train + val" if report.kept
               else "[yellow]not kept[/]: no better than the head; the model directory is unchanged")
    console.print(f"{report.label} val accuracy: head {report.head_val_accuracy:.3f}, colour stage {tried}; {verdict}")


@train_app.command("colour")
def train_colour_command(
    model: Annotated[Path, typer.Option("--model", help="Model directory with a colour head (e.g. one `dressup train encoder` wrote).")],
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog folder or table with labelled product images.")],
    label: Annotated[str, typer.Option(help="The colour label to re-predict.")] = "baseColour",
    split_file: Annotated[Path | None, typer.Option(help="Table (id, split): fits on train, chooses on val, never reads test (default: splits.csv beside the catalog).")] = None,
):
    """Fit a model's colour stage: the head's colour, the embedding and the photo's colour histogram, combined.

    `dressup train encoder` runs this at its end; run it alone for a model trained without it.
    """
    with user_errors():
        with _train_extra("training needs torch and scikit-learn"):
            from .training import fit_colour_stage
        with _progress() as bar:
            report = fit_colour_stage(model, catalog, label, split_file, progress=bar)
        _print_colour_stage(report)


@app.command()
def tag(
    images: Annotated[list[Path], typer.Argument(help="Product photos.")],
    model: Annotated[str | None, typer.Option(help="Encoder with label heads: name or model directory (default: the built-in fashion encoder).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
):
    """Predict category, colour and the other trained labels of product photos."""
    from .encoders import DEFAULT_TAGGER
    from .images import ImageError
    from .tagging import Tagger

    with user_errors():
        tagger = Tagger.load(model or DEFAULT_TAGGER)
        failed = 0
        table = Table(title=f"tags ({tagger.encoder.name})")
        table.add_column("image")
        for label in tagger.labels:
            table.add_column(label)
        for image in images:
            try:
                tags = tagger.tag([image])[0]
            except ImageError as error:
                errors.print(f"[bold red]error:[/] {error}", highlight=False)
                failed += 1
                continue
            if as_json:
                print(json.dumps({"image": str(image), "tags": {k: {"value": t.value, "confidence": t.confidence} for k, t in tags.items()}}))
            else:
                table.add_row(str(image), *(f"{t.value} ({t.confidence:.2f})" for t in tags.values()))
        if not as_json and table.rows:
            console.print(table)
        if failed:
            raise typer.Exit(1)


@eval_app.command("tagging")
def eval_tagging(
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog with true labels.")] = Path("../shared/data/fashion-product-images"),
    model: Annotated[str | None, typer.Option(help="Encoder with label heads (default: the built-in fashion encoder).")] = None,
    split_file: Annotated[Path | None, typer.Option(help="Table (id, split) (default: splits.csv beside the catalog).")] = None,
    split: Annotated[str, typer.Option(help="Which split to score.")] = "test",
    label: Annotated[list[str] | None, typer.Option("--label", "-l", help="Labels to score (default: all the model predicts).")] = None,
    output_dir: Annotated[Path, typer.Option(help="Where the JSON report and confusion PNGs go.")] = Path("reports/tagging"),
    heads_only: Annotated[bool, typer.Option("--heads-only", help="Score the label heads alone, without the model's colour stage.")] = False,
):
    """Accuracy and macro-F1 per label on held-out items, with confusion-matrix PNGs."""
    from .encoders import DEFAULT_TAGGER, create_encoder
    from .evaluation import evaluate_tagging
    from .tagging import Tagger

    with user_errors():
        _check_output_folder(output_dir)
        tagger = Tagger(create_encoder(model or DEFAULT_TAGGER), use_colour_stage=not heads_only)
        report = evaluate_tagging(tagger, catalog, split_file, split, label, confusion_dir=output_dir)
        table = Table(title=f"tagging: {report.items:,} {split} items, model {report.encoder}")
        for column in ("label", "accuracy", "macro-F1", "unseen values"):
            table.add_column(column, justify="left" if column == "label" else "right")
        for name in report.accuracy:
            table.add_row(name, f"{report.accuracy[name]:.4f}", f"{report.macro_f1[name]:.4f}", str(report.unknown_values[name]))
        console.print(table)
        if report.unreadable_images:
            errors.print(f"[yellow]skipped {report.unreadable_images:,} unreadable image(s)[/]")
        _write_report(output_dir, "tagging.json", report.to_dict())
        console.print(f"wrote {output_dir / 'tagging.json'} and confusion-*.png")


@eval_app.command("outfits")
def eval_outfits(
    store: StoreOption,
    outfits: Annotated[Path, typer.Option("--outfits", help="Stylists' outfits (Mango outfits.csv or outfit,item).")],
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    output_dir: Annotated[Path | None, typer.Option(help="Where the JSON report and PNG go (default STORE/reports).")] = None,
):
    """FITB (warm and cold) and compatibility AUC on a split of the outfits, against baselines."""
    import numpy as np

    from .outfits import OutfitModel, read_outfits
    from .store import Store

    with user_errors():
        _check_output_folder(output_dir or store / "reports")
        with _train_extra("evaluating outfits trains a model, which needs torch"):
            from .outfits.evaluation import evaluate_outfits, plot_outfits
            from .outfits.train import OutfitTrainConfig
        opened = Store.open(store)
        table = read_outfits(outfits, opened)
        with _progress(TextColumn("loss {task.fields[loss]}"), transient=True) as bar:
            report, model, split = evaluate_outfits(opened, table, OutfitTrainConfig(epochs=epochs), seed=seed, progress=bar)
        result = Table(title=f"outfits: trained on {report.train_outfits:,}; {report.warm_questions:,} warm / {report.cold_questions:,} cold "
                             f"FITB questions (4 candidates); AUC over {report.auc_outfits:,} held-out outfits vs as many random ones")
        for column in ("method", "FITB warm", "FITB cold", "compatibility AUC"):
            result.add_column(column, justify="left" if column == "method" else "right")
        for name in report.fitb_warm:
            result.add_row(name, f"{report.fitb_warm[name]:.4f}", f"{report.fitb_cold[name]:.4f}", f"{report.auc[name]:.4f}")
        console.print(result)
        folder = _write_report(output_dir or store / "reports", "outfits.json", report.to_dict())
        completer = OutfitModel(opened, model)
        rng = np.random.default_rng(seed)
        examples, titles = [], []
        for rows in [split.warm.rows[i] for i in rng.choice(len(split.warm), size=min(6, len(split.warm)), replace=False)]:
            start = opened.items["id"].iat[int(rows[0])]
            made = completer.complete([start], n=1)
            if made:
                examples.append([i.id for i in made[0].items])
                titles.append(f"around {start}")
        picture = plot_outfits(opened, examples, titles, folder / "outfit-examples.png") if examples else None
        console.print(f"wrote {folder / 'outfits.json'}" + (f" and {picture}" if picture else "") + f"; model trained in {report.training_seconds:.0f} s")


@outfits_app.command("train")
def outfits_train(
    store: StoreOption,
    outfits: Annotated[Path, typer.Option("--outfits", help="Table of (outfit id, item id): Mango's outfits.csv or outfit,item columns.")],
    epochs: Annotated[int, typer.Option(min=1)] = 20,
):
    """Learn outfit compatibility from stylists' outfits; the model is saved in the store."""
    with user_errors():
        with _train_extra("training needs torch"):
            from .outfits import train_outfit_model
            from .outfits.train import OutfitTrainConfig
        with _progress(TextColumn("loss {task.fields[loss]}")) as bar:
            model = train_outfit_model(store, outfits, OutfitTrainConfig(epochs=epochs), progress=bar)
        info = model.compatibility.info
        console.print(
            f"[green]{store}[/]: outfit model from {info['outfits']:,} outfits over {info['items_in_outfits']:,} items "
            f"in {info['seconds']:.0f} s; {len(model.templates):,} slot combinations"
            + (f"; {info['unknown_items']:,} outfit rows name items the store lacks" if info.get("unknown_items") else "")
        )


@outfits_app.command("complete")
def outfits_complete(
    store: StoreOption,
    more: Annotated[list[str] | None, typer.Argument(help="More ids or photo paths, as in --items ID ID ... --image PATH PATH ...", show_default=False)] = None,
    items: Annotated[list[str] | None, typer.Option("--items", help="Item ids in the cart or wardrobe (several after one --items).")] = None,
    image: Annotated[list[Path] | None, typer.Option("--image", help="A photo of an item to build around; repeat.")] = None,
    n: Annotated[int, typer.Option("-n", min=1, max=50, help="How many outfits.")] = 5,
    where: WhereOption = None,
    gender: Annotated[str | None, typer.Option(help="Only products for this gender.")] = None,
    budget: Annotated[float | None, typer.Option(callback=_price, help="Most the whole outfit may cost.")] = None,
    size: Annotated[str | None, typer.Option(help="Only products sold in this size.")] = None,
    exclude_category: Annotated[list[str] | None, typer.Option(help="Never add products of this category; repeat.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables.")] = False,
):
    """Complete outfits around the given items, with products from the catalog."""
    from .filters import Filters
    from .outfits import OutfitModel

    with user_errors():
        expressions = list(where or []) + ([f"gender={gender}"] if gender else []) + [f"category!={c}" for c in exclude_category or []]
        filters = Filters.parse(expressions, size=size)
        model = OutfitModel.load(store)
        ids = [part for value in items or [] for part in value.replace(",", " ").split()]
        photos = list(image or [])
        for value in more or []:  # click gives one value per option: the rest arrive here
            if value not in model.store and Path(value).is_file():
                photos.append(Path(value))
            else:
                ids.append(value)
        outfits = model.complete(ids, n=n, filters=filters, images=photos, budget=budget)
        if as_json:
            print(json.dumps({"outfits": [_outfit_json(model, o) for o in outfits]}, indent=2, default=str))
        else:
            for number, outfit in enumerate(outfits, 1):
                table = Table(title=f"outfit {number}: score {outfit.score:.3f}" + (f", total {outfit.total_price:.2f}" if outfit.total_price else ""))
                for column in ("id", "slot", "type", "title", "price", "fit"):
                    table.add_column(column)
                for item in outfit.items:
                    row = model.store.items.iloc[model.store.row(item.id)] if item.id else None
                    table.add_row(item.id or "(photo)", item.slot, "" if row is None else str(row["category"]),
                                  "" if row is None else str(row["title"]), _cell(item.price), "given" if item.given else f"{item.score:.3f}")
                console.print(table)
        if len(outfits) < n:
            errors.print(f"only {len(outfits)} outfit(s) could be completed with these filters")


def _outfit_json(model, outfit) -> dict:
    items = []
    for item in outfit.items:
        entry = {"id": item.id, "slot": item.slot, "given": item.given, "score": item.score, "price": item.price}
        if item.id:
            entry.update(_summary(model.store, model.store.row(item.id)))
        items.append(entry)
    return {"score": outfit.score, "total_price": outfit.total_price, "items": items}


def _jsonl_records(path: Path):
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DressUpError(f"{path}: cannot read the JSON-lines file ({error})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise DressUpError(f"{path}:{number}: not a JSON line") from None
        if not isinstance(record, dict) or "id" not in record:
            raise DressUpError(f"{path}:{number}: each line needs an \"id\"")
        yield number, record


def _write_jsonl(output: Path, lines: list[dict]) -> None:
    from .files import atomic_write

    with _writing(output):
        atomic_write(output, "".join(json.dumps(line) + "\n" for line in lines))


def _answer_lines(store: Path, path: Path, output: Path, ids_of, answer, empty: dict, what: str) -> None:
    """Answer each JSON line of ``path`` into ``output``; lines naming unknown items are reported, not answered.

    ``ids_of(number, record)`` validates a line and returns the item ids it names; ``answer(record)``
    returns the fields to write; ``empty`` holds the fields of an unanswered line.
    """
    from .outfits import OutfitModel

    _check_output_file(output)
    model = OutfitModel.load(store)
    lines, problems = [], 0
    for number, record in _jsonl_records(path):
        ids = [str(i) for i in ids_of(number, record)]
        unknown = [i for i in ids if i not in model.store]
        if unknown:
            problems += 1
            errors.print(f"{what} {record['id']}: unknown item(s) {', '.join(unknown[:5])}; not answered", highlight=False)
            lines.append({"id": record["id"], **empty, "error": f"unknown item(s): {', '.join(unknown)}"})
            continue
        lines.append({"id": record["id"], **answer(model, record)})
    _write_jsonl(output, lines)
    console.print(f"wrote {len(lines):,} lines to {output}" + (f"; {problems:,} {what}(s) not answered (unknown items)" if problems else ""))
    if problems:
        raise typer.Exit(1)


@outfits_app.command("fitb")
def outfits_fitb(
    store: StoreOption,
    questions: Annotated[Path, typer.Argument(help='JSON lines {"id", "outfit": [ids], "candidates": [ids]}.')],
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


@outfits_app.command("score")
def outfits_score(
    store: StoreOption,
    outfits: Annotated[Path, typer.Argument(help='JSON lines {"id", "items": [ids]}.')],
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


@events_app.command("import")
def events_import(
    events_file: Annotated[Path, typer.Argument(help="H&M transactions.csv or a user,item,event,timestamp[,value] table.")],
    store: StoreOption,
    database: DatabaseOption = None,
):
    """Import events; bad rows and unknown items are counted and skipped, the rest stored in one transaction."""
    from .store import read_manifest
    from .users import EventStore, import_events

    with user_errors():
        read_manifest(store)  # not a store: say so before a database is created in it
        # without --database the library opens STORE/users.sqlite itself, once the store and the file are checked
        events = EventStore.open(store, database) if database else None
    with user_errors(), _progress(stderr=True, transient=True) as bar:
        tasks = {}

        def advance(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done)

        report = import_events(store, events_file, events, progress=advance)
    console.print(f"[green]{events_file}[/] ({report.layout} layout): {report.rows:,} rows, stored {report.added:,} new events "
                  f"of {report.users:,} users" + (f"; {report.already_stored:,} were stored already" if report.already_stored else ""))
    _print_skipped_rows(report)
    if report.unknown_items:
        errors.print(f"[yellow]skipped {report.unknown_items:,} event(s) on items the store lacks[/] "
                     f"(e.g. {', '.join(report.unknown_item_examples)})", highlight=False)


def _print_skipped_rows(report) -> None:
    """On stderr: the rows of an events table that were skipped, by reason, with a few line numbers."""
    for reason, count in report.skipped.items():
        errors.print(f"[yellow]skipped {count:,} row(s): {escape(reason)}[/] ({', '.join(report.examples[reason])})", highlight=False)


@events_app.command("add")
def events_add(
    store: StoreOption,
    user: Annotated[str, typer.Option("--user", "-u", help="User id (created on first event).")],
    item: Annotated[str, typer.Option("--item", "-i", help="Item id.")],
    kind: Annotated[str, typer.Option("--kind", help="view, like, dislike, rating, cart or purchase.")],
    value: Annotated[float | None, typer.Option(help="Rating 1-5, or the price paid.")] = None,
    database: DatabaseOption = None,
):
    """Record one event."""
    from .store import Store
    from .users import EventStore

    with user_errors():
        Store.open(store).row(item)  # an unknown item is an error here, not a silent row
        EventStore.open(store, database).add(user, item, kind, value)
    console.print(f"{user} {kind} {item}")


@users_app.command("token")
def users_token(
    store: StoreOption,
    user: Annotated[str, typer.Option("--user", "-u", help="An existing user id, e.g. an imported customer.")],
    database: DatabaseOption = None,
):
    """Issue a REST API token for an existing user (printed once; the user's earlier token stops working)."""
    from .store import read_manifest
    from .users import EventStore

    with user_errors():
        read_manifest(store)  # not a store: say so before a database is created in it
        events = EventStore.open(store, database)
        try:
            token = events.new_token(user)
        finally:
            events.close()
    print(token)


def _recommender_config(settings):
    from .recommenders import RecommenderConfig

    options = {}
    for setting in settings or []:
        name, sep, text = setting.partition("=")
        if not sep:
            raise DressUpError(f"malformed setting {setting!r}: use NAME=VALUE")
        options[name.strip()] = _setting_value(text.strip())
    return RecommenderConfig().with_options(**options)


def _setting_value(text: str):
    """``3`` -> 3, ``0.5``/``1e-1`` -> float, ``none`` -> None, anything else stays text (checked by the config)."""
    if text.lower() == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@app.command()
def recommend(
    store: StoreOption,
    user: Annotated[str | None, typer.Option("--user", "-u", help="A user's id.")] = None,
    users: Annotated[Path | None, typer.Option("--users", help="File of user ids, one per line (batch; each id answered once).")] = None,
    liked: Annotated[list[str] | None, typer.Option("--liked", help="Recommend from these liked item ids, without a stored user; repeat.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many items.")] = 12,
    where: WhereOption = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    gender: Annotated[str | None, typer.Option(help="Only this gender.")] = None,
    colour: Annotated[str | None, typer.Option("--colour", "--color", help="Only this colour.")] = None,
    max_price: MaxPriceOption = None,
    size: Annotated[str | None, typer.Option(help="Only items sold in this size.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --user or --liked: JSON instead of a table.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help='JSON-lines file to write, a line {"user", "items"} per user: '
                                                "needed by --users; with --user, that user's one line instead of the table.")] = None,
    settings: SetOption = None,
    database: DatabaseOption = None,
):
    """A user's personal feed (or, with --users, every listed user's, as JSON lines).

    Users without events get popular items; stderr says so (stdout stays the table or the JSON).
    """
    from .recommenders import Recommender
    from .store import Store
    from .users import EventStore

    with user_errors():
        _check_recommend_options(user, users, liked, as_json, output)
        filters = _filters(where, category, gender, colour, None, max_price, size)
        ids = _user_ids(users) if users is not None else None  # an unreadable or empty list fails before any work
        opened = Store.open(store)
        events = EventStore.open(store, database)
        recommender = Recommender(opened, events, _recommender_config(settings))
        any_events = _any_events(events)
        if ids is not None:
            _recommend_batch(recommender, ids, k, filters, output, events if any_events else None)
            return
        if user is not None and any_events and not events.with_events([user]):
            errors.print(f"user {user} has no events: the feed is popular items", highlight=False, markup=False)
        found = recommender.recommend(user, k, filters) if user is not None else recommender.recommend_from_items(liked, k, filters)
        if output is not None:
            _write_jsonl(output, [{"user": user, "items": [r.id for r in found]}])
            errors.print(f"wrote 1 line to {output}", highlight=False, markup=False)
            return
        rows = [{"id": r.id, "score": r.score, "reason": r.reason, **_summary(opened, opened.row(r.id))} for r in found]
        if as_json:
            print(json.dumps({"user": user, "liked": liked, "items": rows}, indent=2, default=str))
            return
        table = Table(title=f"for {user}" if user is not None else f"for someone who likes {', '.join(liked)}")
        for column in ("id", "score", "reason", "title", "category", "colour", "price"):
            table.add_column(column, justify="right" if column in ("score", "price") else "left")
        for row in rows:
            table.add_row(*(_cell(row.get(c)) for c in ("id", "score", "reason", "title", "category", "colour", "price")))
        console.print(table)
        if len(rows) < k:
            errors.print(f"only {len(rows)} item(s) satisfy the filters")


def _check_recommend_options(user, users, liked, as_json, output) -> None:
    """One kind of query, and --json / --output only where they mean something (checked before any work)."""
    if sum([user is not None, users is not None, bool(liked)]) != 1:
        raise DressUpError("give exactly one of --user, --users or --liked")
    if users is not None and as_json:
        raise DressUpError("--users always writes JSON lines to --output; drop --json")
    if users is not None and output is None:
        raise DressUpError("--users needs --output FILE.jsonl")
    if liked and output is not None:
        raise DressUpError("--output goes with --users or --user; for --liked, print JSON with --json")
    if as_json and output is not None:
        raise DressUpError("give --json (print the feed) or --output (write it to a file), not both")
    if output is not None:
        _check_output_file(output)


def _user_ids(users: Path) -> list[str]:
    """The ids of a --users file, each once, in the order first seen; blank lines are skipped."""
    try:
        lines = users.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DressUpError(f"{users}: cannot read the user list ({error})") from None
    ids = list(dict.fromkeys(line.strip() for line in lines if line.strip()))
    if not ids:
        raise DressUpError(f"{users}: no user ids")
    return ids


def _any_events(events) -> bool:
    """Whether the database holds any events; if not, say so on stderr."""
    if events.latest() is not None:  # an index lookup; counting would read the whole table
        return True
    errors.print("the event database is empty (import events with `dressup events import`): "
                 "no user has a history and no item is popular yet", highlight=False, markup=False)
    return False


def _recommend_batch(recommender, ids: list[str], k: int, filters, output: Path, events=None) -> None:
    """Write each user's feed as a JSON line; with ``events``, count on stderr the users who have none."""
    lines = []
    with Progress(TextColumn("recommending"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task("recommending", total=len(ids))
        for user in ids:
            lines.append({"user": user, "items": [r.id for r in recommender.recommend(user, k, filters)]})
            bar.advance(task)
    without_events = len(ids) - len(events.with_events(ids)) if events is not None else 0
    _write_jsonl(output, lines)
    errors.print(f"wrote {len(lines):,} lines to {output}", highlight=False, markup=False)
    if without_events:
        errors.print(f"{without_events:,} of {len(ids):,} users have no events: their feeds are popular items", highlight=False)


@eval_app.command("personalization")
def eval_personalization(
    store: StoreOption,
    events_file: Annotated[Path, typer.Option("--events", help="Events table (H&M transactions or user,item,event,timestamp).")],
    split_date: Annotated[str, typer.Option(help="Train on events before this date, score purchases from it on.")],
    end_date: Annotated[str | None, typer.Option(help="Score only purchases before this date.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100)] = 12,
    settings: SetOption = None,
    output_dir: Annotated[Path | None, typer.Option(help="Where to write the JSON report and PNG (default STORE/reports).")] = None,
):
    """MAP@k, HR@k, coverage and diversity of personal feeds vs baselines, on purchases after a date."""
    from .recommenders.evaluation import MODEL, evaluate_personalization, evaluation_period, plot_personalization
    from .store import Store
    from .users import read_events

    with user_errors():
        evaluation_period(split_date, end_date)  # a bad date fails before the events are read
        _check_output_folder(output_dir or store / "reports")
        opened = Store.open(store)
        events, read = read_events(events_file)
        _print_skipped_rows(read)
        report, _ = evaluate_personalization(opened, events, split_date, k, end_date, _recommender_config(settings))
        table = Table(title=f"purchases from {report.split_date}: {report.test_users:,} users ({report.cold_users:,} new), "
                            f"trained on {report.train_events:,} events")
        for column in ("method", f"MAP@{k}", f"HR@{k}", "coverage", "diversity"):
            table.add_column(column, justify="left" if column == "method" else "right")
        for name, m in report.methods.items():
            style = "bold green" if name == MODEL else None
            table.add_row(name, f"{m['map']:.4f}", f"{m['hit_rate']:.4f}", f"{m['coverage']:.4f}", f"{m['diversity']:.4f}", style=style)
        console.print(table)
        summary = report.to_dict()
        if summary["map_ratio_to_best_baseline"] is not None:
            low, high = report.map_ratio_interval
            console.print(f"{MODEL} / best baseline ({summary['best_baseline']['name']}): {summary['map_ratio_to_best_baseline']:.2f}x "
                          f"(95% interval over resampled users: {low:.2f}x to {high:.2f}x)")
        folder = _write_report(output_dir or store / "reports", "personalization.json", summary)
        picture = plot_personalization(report, folder / "personalization.png")
        console.print(f"report: {folder / 'personalization.json'}, {picture}")


@app.command()
def serve(
    store: StoreOption,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (about one per CPU core).")] = 1,
    database: DatabaseOption = None,
    admin_key: Annotated[str | None, typer.Option(envvar="DRESSUP_ADMIN_KEY", help="API key that allows catalog writes.")] = None,
    settings_file: Annotated[Path | None, typer.Option("--settings", help="File of DRESSUP_NAME=value lines.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
):
    """Serve the REST API and the web page (open http://HOST:PORT/; API docs at /docs)."""
    import os

    import uvicorn
    from pydantic import ValidationError

    from .api import Settings, create_app
    from .store import Store

    with user_errors():
        try:
            settings = Settings.load(settings_file, store=store, database_url=database, admin_key=admin_key)
        except ValidationError as error:
            raise DressUpError(f"bad server settings: {error}") from None
        Store.open(settings.store)  # a missing or damaged store fails here, with its reason
        os.environ.update(settings.to_environment())
        errors.print(f"serving {settings.store} on http://{host}:{port}/ (API docs: /docs)")
        if workers == 1:
            uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
        else:  # each worker process builds its own app from the environment set above
            uvicorn.run("dressup.api:app_from_environment", factory=True, host=host, port=port, workers=workers, log_level=log_level)


def main():  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
