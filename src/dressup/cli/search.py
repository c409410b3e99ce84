"""``dressup search``: text search ("black trousers"), a photo modified by words, and batches of queries."""

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
    GenderOption,
    MaxPriceOption,
    MinPriceOption,
    RichProgress,
    SizeOption,
    StoreOption,
    WhereOption,
    check_output_file,
    errors,
    item_summary,
    option_filters,
    print_table,
    user_errors,
    writing,
)

ModeOption = Annotated[str, typer.Option("--mode", help="hybrid (keywords and the image embeddings fused), keywords, "
                                                       "or visual (the image embeddings alone).")]


def search(
    store: StoreOption,
    text: Annotated[str | None, typer.Argument(help="What to look for, e.g. \"black wide-leg trousers under 50\".",
                                               show_default=False)] = None,
    image: Annotated[Path | None, typer.Option(help="A photo that the text modifies (\"like this, but in red\").")] = None,
    queries: Annotated[Path | None, typer.Option(help="A JSON-lines file of queries: {\"id\", \"text\"[, \"image\"]} "
                                                     "per line.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="With --queries: the JSON-lines file to write, "
                                                                      "{\"id\", \"items\": [{\"id\", \"score\"}...]}.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=200, help="How many results.")] = 10,  # each ranking's candidates
    mode: ModeOption = "hybrid",
    where: WhereOption = None,
    category: CategoryOption = None,
    gender: GenderOption = None,
    colour: ColourOption = None,
    min_price: MinPriceOption = None,
    max_price: MaxPriceOption = None,
    size: SizeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
):
    """Items matching a text, a photo modified by a text, or (with --queries) a file of queries."""
    from ..shop import Shop

    with user_errors():
        _check_options(text, image, queries, output, as_json)
        filters = option_filters(where, category, gender, colour, min_price, max_price, size)
        generation = Shop(store).generation
        if queries is not None:
            _search_batch(generation, queries, output, k, filters, mode)
            return
        found = generation.search(text, image, k=k, filters=filters, mode=mode)
        rows = [{"id": m.id, "score": round(m.score, 6), **item_summary(generation.store, m.row)} for m in found.matches]
        if as_json:
            print(json.dumps({"query": text, "image": str(image) if image else None, "mode": found.mode,
                              "understood": found.understood, "preferred": found.preferred, "items": rows},
                             indent=2, default=str))
            return
        understood = ", ".join(f"{key} {value}" for key, value in found.understood.items())
        preferred = ", ".join(found.preferred.values())
        title = f"{found.mode} search: {text or ''}" + (f" (as filters: {understood})" if understood else "")
        print_table(title + (f" ({preferred} first)" if preferred else ""), list(RESULT_COLUMNS), rows)
        if not rows:
            errors.print("nothing matches: try fewer words or filters")


def _check_options(text, image, queries, output, as_json) -> None:
    if queries is not None:
        if text is not None or image is not None:
            raise DressUpError("give a query text (and --image), or --queries FILE, not both")
        if output is None:
            raise DressUpError("--queries needs --output FILE.jsonl")
        if as_json:
            raise DressUpError("--queries always writes JSON lines to --output; drop --json")
        check_output_file(output)
    elif output is not None:
        raise DressUpError("--output goes with --queries; for one query, print JSON with --json")
    elif text is None and image is None:
        raise DressUpError("give a query text, e.g. dressup search --store S \"black trousers\", or --queries FILE")


def read_queries(path: Path) -> list[dict]:
    """The queries of a JSON-lines file; a malformed line is one error naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DressUpError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    found = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            query = json.loads(line)
        except json.JSONDecodeError as error:
            raise DressUpError(f"{path}, line {number}: not JSON ({error.msg})") from None
        if not isinstance(query, dict) or "id" not in query or not (query.get("text") or query.get("image")):
            raise DressUpError(f"{path}, line {number}: a query is {{\"id\": ..., \"text\": ...[, \"image\": ...]}}")
        if not isinstance(query.get("text", ""), str) or not isinstance(query.get("image", ""), str):
            raise DressUpError(f"{path}, line {number}: \"text\" and \"image\" are strings")
        found.append(query)
    return found


def _search_batch(generation, queries: Path, output: Path, k: int, filters, mode: str) -> None:
    from ..files import atomic_path
    from ..store import SearchError

    lines = read_queries(queries)
    with RichProgress(stderr=True) as progress, writing(output), atomic_path(output) as temporary, \
            open(temporary, "w") as handle:
        for done, query in enumerate(lines, start=1):
            image = query.get("image")
            if image and not Path(image).is_absolute():
                image = str(queries.parent / image)
            try:
                found = generation.search(query.get("text"), image or None, k=k, filters=filters, mode=mode)
                line = {"id": query["id"], "items": [{"id": m.id, "score": round(m.score, 6)} for m in found.matches]}
            except SearchError as error:  # one query that cannot be searched does not stop the batch
                line = {"id": query["id"], "items": [], "error": str(error)}
            handle.write(json.dumps(line) + "\n")
            progress.update("search", done, len(lines))
    errors.print(f"wrote {len(lines):,} lines to {output}")


COMMANDS = [search]
