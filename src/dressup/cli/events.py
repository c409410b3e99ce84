"""``dressup events`` and ``dressup users``: users' events imported or recorded, and API tokens for users."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import DatabaseOption, RichProgress, StoreOption, console, errors, print_skipped_rows, user_errors

events_app = typer.Typer(help="Users' events (likes, ratings, purchases ...): import and record them.", no_args_is_help=True)
users_app = typer.Typer(help="Users' accounts for the REST API.", no_args_is_help=True)


@events_app.command("import")
def events_import(
    events_file: Annotated[Path, typer.Argument(help="H&M transactions.csv or a user,item,event,timestamp[,value] table.")],
    store: StoreOption,
    database: DatabaseOption = None,
):
    """Import events; bad rows and unknown items are counted and skipped, the rest stored in one transaction."""
    from ..store import read_manifest
    from ..users import EventStore, import_events

    with user_errors():
        read_manifest(store)  # not a store: say so before a database is created in it
        # without --database the library opens STORE/users.sqlite itself, once the store and the file are checked
        events = EventStore.open(store, database) if database else None
    with user_errors(), RichProgress(stderr=True, transient=True) as progress:
        report = import_events(store, events_file, events, progress=progress)
    again = f"; {report.already_stored:,} were stored already" if report.already_stored else ""
    console.print(f"[green]{events_file}[/] ({report.layout} layout): {report.rows:,} rows, stored {report.added:,} new events "
                  f"of {report.users:,} users{again}")
    print_skipped_rows(report)
    if report.unknown_items:
        errors.print(f"[yellow]skipped {report.unknown_items:,} event(s) on items the store lacks[/] "
                     f"(e.g. {', '.join(report.unknown_item_examples)})", highlight=False)


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
    from ..shop import Shop

    with user_errors():
        shop = Shop(store, database)
        try:
            shop.add_event(user, item, kind, value, create_user=True)  # an unknown item is an error here, not a silent row
        finally:
            shop.close()
    console.print(f"{user} {kind} {item}")


@users_app.command("token")
def users_token(
    store: StoreOption,
    user: Annotated[str, typer.Option("--user", "-u", help="An existing user id, e.g. an imported customer.")],
    database: DatabaseOption = None,
):
    """Issue a REST API token for an existing user (printed once; the user's earlier token stops working)."""
    from ..store import read_manifest
    from ..users import EventStore

    with user_errors():
        read_manifest(store)  # not a store: say so before a database is created in it
        events = EventStore.open(store, database)
        try:
            token = events.new_token(user)
        finally:
            events.close()
    print(token)
