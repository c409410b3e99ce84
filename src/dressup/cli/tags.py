"""``dressup tag``: the predicted labels of product photos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import console, errors, user_errors


def tag(
    images: Annotated[list[Path], typer.Argument(help="Product photos.")],
    model: Annotated[str | None,
                     typer.Option(help="Encoder with label heads: name or model directory (default: the built-in fashion "
                                       "encoder).")] = None,
    labels: Annotated[str | None,
                      typer.Option(help="Zero-shot: comma-separated labels that no head was trained on, e.g. "
                                        "\"floral,striped,denim\"; each photo gets each label's probability.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
):
    """Predict category, colour and the other trained labels of product photos, or score labels of your own."""
    from ..encoders import DEFAULT_TAGGER
    from ..tagging import Tagger

    with user_errors():
        if labels is not None:
            _zero_shot(images, model or DEFAULT_TAGGER, labels, as_json)
            return
        tagger = Tagger.load(model or DEFAULT_TAGGER)
        table = Table(title=f"tags ({tagger.encoder.name})")
        for column in ["image", *tagger.labels]:
            table.add_column(column)
        _tag_each(images, lambda image: tagger.tag([image])[0], table, as_json,
                  line=lambda tags: {"tags": {k: {"value": t.value, "confidence": t.confidence} for k, t in tags.items()}},
                  row=lambda tags: [f"{t.value} ({t.confidence:.2f})" for t in tags.values()])


def _zero_shot(images: list[Path], model: str, labels: str, as_json: bool) -> None:
    from ..tagging import ZeroShotTagger, checked_labels

    chosen = checked_labels(labels)
    tagger = ZeroShotTagger.load(model)
    table = Table(title=f"zero-shot labels ({tagger.tower.name} over {tagger.encoder.name})")
    for column in ["image", "best", *chosen]:
        table.add_column(column)

    def scores(tags) -> dict[str, float]:
        return {t.value: t.confidence for t in tags}
    _tag_each(images, lambda image: tagger.tag([image], chosen)[0], table, as_json,
              line=lambda tags: {"best": tags[0].value, "labels": scores(tags)},
              row=lambda tags: [tags[0].value, *(f"{scores(tags)[label]:.2f}" for label in chosen)])


def _tag_each(images: list[Path], tag_one, table: Table, as_json: bool, line, row) -> None:
    """Tag each image: a JSON line (``{"image", **line(tags)}``) or a table row (``[image, *row(tags)]``) each; an
    unreadable image is one error line, and exit status 1 once all are done."""
    from ..images import ImageError

    failed = 0
    for image in images:
        try:
            tags = tag_one(image)
        except ImageError as error:
            errors.print(f"[bold red]error:[/] {error}", highlight=False)
            failed += 1
            continue
        if as_json:
            print(json.dumps({"image": str(image), **line(tags)}))
        else:
            table.add_row(str(image), *row(tags))
    if not as_json and table.rows:
        console.print(table)
    if failed:
        raise typer.Exit(1)


COMMANDS = [tag]
