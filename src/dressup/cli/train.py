"""``dressup train``: models trained on the shop's own data (the ``[train]`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import RichProgress, console, extra_needed, user_errors

# "\\[" keeps Rich from reading "[train]" as markup (and showing nothing)
app = typer.Typer(help="Train models on the shop's own data (needs the \\[train] extra).", no_args_is_help=True)


@app.command("encoder")
def train_encoder_command(
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog folder or table with labelled product images.")],
    out: Annotated[Path, typer.Option("--out", help="Model directory to write (usable as --encoder).")],
    labels: Annotated[str,
                      typer.Option(help="Comma-separated label columns; the first (see --contrastive-labels) also shapes the "
                                        "embedding.")] = "articleType,baseColour,gender,usage,season",
    split_file: Annotated[Path | None,
                          typer.Option(help="Table (id, split): trains on train, stops early on val, never reads test (default: "
                                            "splits.csv beside the catalog, else a random 10% val).")] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs; early stopping may end sooner.")] = 14,
    patience: Annotated[int, typer.Option(min=1, help="Stop after this many epochs without a better validation score.")] = 4,
    batch_size: Annotated[int, typer.Option(min=2)] = 64,
    views: Annotated[int, typer.Option(min=1, help="Cached views per image (1 plain + augmented ones).")] = 3,
    frozen_blocks: Annotated[int, typer.Option(min=1, max=17, help="MobileNetV2 blocks kept frozen (precomputed once).")] = 7,
    max_batches: Annotated[int | None, typer.Option(help="Stop each epoch after N batches (smoke tests).")] = None,
    input_size: Annotated[int, typer.Option(help="Pixels the model sees (square).")] = 192,
    resize_size: Annotated[int | None,
                           typer.Option(help="Resize to this before a centre crop of --input-size (0: no crop).")] = 224,
    val_holdout: Annotated[int | None,
                           typer.Option(min=1,
                                        help="Keep only N val items for early stopping and train on the rest of them.")] = None,
    name: Annotated[str, typer.Option(help="Name recorded in the model's spec.")] = "fashion-mobilenetv2",
    contrastive_labels: Annotated[int,
                                  typer.Option(min=1,
                                               help="Items sharing the first N labels are pulled together in the "
                                                    "embedding.")] = 1,
    device: Annotated[str, typer.Option(help="cpu, or cuda on a machine with a GPU (same result, faster).")] = "cpu",
    tag_labels: Annotated[str | None,
                          typer.Option(help="Comma-separated labels `dressup tag` shows (default: all of --labels).")] = None,
    colour_label: Annotated[str,
                            typer.Option(help="Label that gets a colour stage at the end (`dressup train colour`): auto (the "
                                              "first shown label named *colour*), a label, or none.")] = "auto",
):
    """Fine-tune the image encoder on a catalog: one head per label + a metric-learning loss.

    Re-running the same command resumes from the last finished epoch.
    """
    with user_errors():
        with extra_needed("train", "training needs torch"):
            from ..training import TrainConfig, train_encoder
        config = TrainConfig(
            catalog=str(catalog), labels=_names(labels), split_file=str(split_file) if split_file else None,
            name=name, epochs=epochs, patience=patience, batch_size=batch_size, views=views, first_trained_block=frozen_blocks,
            max_batches=max_batches, input_size=input_size, resize_size=resize_size or None, val_holdout=val_holdout,
            contrastive_labels=contrastive_labels, device=device, tag_labels=_names(tag_labels) if tag_labels else None,
            colour_label=None if colour_label.lower() == "none" else colour_label,
        )
        with RichProgress() as progress:
            result = train_encoder(config, out, progress=progress)
        resumed = f", resumed after epoch {result.resumed_from}" if result.resumed_from else ""
        if result.colour_stage:
            _print_colour_stage(result.colour_stage)
        console.print(
            f"[green]{result.model_dir}[/]: {result.epochs_run} epochs (best {result.best_epoch}) "
            f"in {result.seconds / 60:.1f} min{resumed}; "
            f"use it with `dressup index ... --encoder {result.model_dir}`"
        )


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def _print_colour_stage(report) -> None:
    tried = ", ".join(f"C={c:g}: {a:.3f}" for c, a in report.tried.items())
    verdict = (f"[green]kept[/] (C={report.strength:g}), refitted on train + val" if report.kept
               else "[yellow]not kept[/]: no better than the head; the model directory is unchanged")
    console.print(f"{report.label} val accuracy: head {report.head_val_accuracy:.3f}, colour stage {tried}; {verdict}")


@app.command("colour")
def train_colour_command(
    model: Annotated[Path,
                     typer.Option("--model",
                                  help="Model directory with a colour head (e.g. one `dressup train encoder` wrote).")],
    catalog: Annotated[Path, typer.Option("--catalog", help="Catalog folder or table with labelled product images.")],
    label: Annotated[str, typer.Option(help="The colour label to re-predict.")] = "baseColour",
    split_file: Annotated[Path | None,
                          typer.Option(help="Table (id, split): fits on train, chooses on val, never reads test (default: "
                                            "splits.csv beside the catalog).")] = None,
):
    """Fit a model's colour stage: the head's colour, the embedding and the photo's colour histogram, combined.

    `dressup train encoder` runs this at its end; run it alone for a model trained without it.
    """
    with user_errors():
        with extra_needed("train", "training needs torch and scikit-learn"):
            from ..training import fit_colour_stage
        with RichProgress() as progress:
            report = fit_colour_stage(model, catalog, label, split_file, progress=progress)
        _print_colour_stage(report)
