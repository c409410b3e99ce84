"""``dressup recommend``: personal feeds, for one user, a list of liked items, or a file of users."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import DressUpError
from .common import (
    CategoryOption,
    ColourOption,
    DatabaseOption,
    GenderOption,
    MaxPriceOption,
    RichProgress,
    SetOption,
    SizeOption,
    StoreOption,
    WhereOption,
    check_output_file,
    errors,
    item_summary,
    option_filters,
    print_table,
    user_errors,
    write_jsonl,
)


def recommend(
    store: StoreOption,
    user: Annotated[str | None, typer.Option("--user", "-u", help="A user's id.")] = None,
    users: Annotated[Path | None,
                     typer.Option("--users", help="File of user ids, one per line (batch; each id answered once).")] = None,
    liked: Annotated[list[str] | None,
                     typer.Option("--liked", help="Recommend from these liked item ids, without a stored user; repeat.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="How many items.")] = 12,
    where: WhereOption = None,
    category: CategoryOption = None,
    gender: GenderOption = None,
    colour: ColourOption = None,
    max_price: MaxPriceOption = None,
    size: SizeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --user or --liked: JSON instead of a table.")] = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help='JSON-lines file to write, a line {"user", "items"} per user: needed by --users; with --user, '
                               "that user's one line instead of the table.")] = None,
    settings: SetOption = None,
    database: DatabaseOption = None,
):
    """A user's personal feed (or, with --users, every listed user's, as JSON lines).

    Users without events get popular items; stderr says so (stdout stays the table or the JSON).
    """
    from ..recommenders import RecommenderConfig
    from ..shop import Shop

    with user_errors():
        _check_recommend_options(user, users, liked, as_json, output)
        filters = option_filters(where, category, gender, colour, None, max_price, size)
        ids = _user_ids(users) if users is not None else None  # an unreadable or empty list fails before any work
        shop = Shop(store, database, recommender_config=RecommenderConfig.parse(settings or []))
        generation = shop.generation
        any_events = _any_events(shop.events)
        if ids is not None:
            _recommend_batch(generation, ids, k, filters, output, shop.events if any_events else None)
            return
        if user is not None and any_events and not shop.events.with_events([user]):
            errors.print(f"user {user} has no events: the feed is popular items", highlight=False, markup=False)
        found = generation.recommend(user, k, filters) if user is not None else generation.recommend_from_items(liked, k, filters)
        if output is not None:
            write_jsonl(output, [{"user": user, "items": [r.id for r in found]}])
            errors.print(f"wrote 1 line to {output}", highlight=False, markup=False)
            return
        rows = [{"id": r.id, "score": r.score, "reason": r.reason, **item_summary(generation.store, generation.store.row(r.id))}
                for r in found]
        if as_json:
            print(json.dumps({"user": user, "liked": liked, "items": rows}, indent=2, default=str))
            return
        title = f"for {user}" if user is not None else f"for someone who likes {', '.join(liked)}"
        print_table(title, ["id", "score", "reason", "title", "category", "colour", "price"], rows)
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
        check_output_file(output)


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


def _recommend_batch(generation, ids: list[str], k: int, filters, output: Path, events=None) -> None:
    """Write each user's feed (after the business rules) as a JSON line; with ``events``, count on stderr the users
    who have none."""
    lines = []
    with RichProgress(stderr=True) as progress:
        for done, user in enumerate(ids, start=1):
            lines.append({"user": user, "items": [r.id for r in generation.recommend(user, k, filters)]})
            progress.update("recommending", done, len(ids))
    without_events = len(ids) - len(events.with_events(ids)) if events is not None else 0
    write_jsonl(output, lines)
    errors.print(f"wrote {len(lines):,} lines to {output}", highlight=False, markup=False)
    if without_events:
        errors.print(f"{without_events:,} of {len(ids):,} users have no events: their feeds are popular items", highlight=False)


COMMANDS = [recommend]
