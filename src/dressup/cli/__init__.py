"""The `dressup` command line: a thin layer over the library, one module per group of commands.

A new command is a function in the module of its group (or a new module with a ``COMMANDS`` list or a Typer
``app``), plus its line below.
"""

from __future__ import annotations

import sys

import typer

from ..version import __version__
from . import catalog, evaluate, events, items, merchandising, outfits, recommend, search, serve, tags, train

app = typer.Typer(help="DressUp: similar items, recommendations and outfits for a fashion catalog.", no_args_is_help=True)
for module in (catalog, search, items, tags, recommend, serve):
    for command in module.COMMANDS:
        app.command()(command)
app.add_typer(items.app, name="items")


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"dressup {__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")) -> None:
    """DressUp: similar items, recommendations and outfits for a fashion catalog."""



app.add_typer(evaluate.app, name="eval")
app.add_typer(train.app, name="train")
app.add_typer(outfits.app, name="outfits")
app.add_typer(events.events_app, name="events")
app.add_typer(events.users_app, name="users")
app.add_typer(merchandising.rules_app, name="rules")
app.add_typer(merchandising.experiments_app, name="experiments")
app.add_typer(merchandising.report_app, name="report")


def main():  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
