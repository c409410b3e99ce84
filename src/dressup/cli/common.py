"""What every command shares: the consoles, the options, one-line errors, progress bars, output files and tables."""

from __future__ import annotations

import json
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich import progress as bars
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import DressUpError
from ..progress import Progress

# piped into a file or another program, tables are not cut at Rich's 80 columns (a terminal's width, or COLUMNS, holds)
console = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200)
errors = Console(stderr=True, soft_wrap=True)

StoreOption = Annotated[Path, typer.Option("--store", "-s", help="Store directory.")]
DatabaseOption = Annotated[str | None, typer.Option(
    "--database", envvar="DRESSUP_DATABASE_URL", help="Database URL for users and events (default: STORE/users.sqlite).")]
SetOption = Annotated[list[str] | None,
                      typer.Option("--set", help="Recommender setting NAME=VALUE (e.g. diversity=0.3); repeat.")]
WhereOption = Annotated[list[str] | None,
                        typer.Option("--where", "-w", help="Filter column=value or column!=value; repeat for more.")]
CategoryOption = Annotated[str | None, typer.Option(help="Only this category.")]
GenderOption = Annotated[str | None, typer.Option(help="Only this gender.")]
ColourOption = Annotated[str | None, typer.Option("--colour", "--color", help="Only this colour.")]
SizeOption = Annotated[str | None, typer.Option(help="Only items sold in this size.")]


def _price(value: float | None) -> float | None:
    """A price option's value: a finite number, 0 or more (as the REST API asks)."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"{value:g} is not a price; give a number of 0 or more")
    return value


MinPriceOption = Annotated[float | None, typer.Option(callback=_price, help="Lowest price.")]
MaxPriceOption = Annotated[float | None, typer.Option(callback=_price, help="Highest price (budget).")]
BudgetOption = Annotated[float | None, typer.Option(callback=_price, help="Most the whole outfit may cost.")]


RESULT_COLUMNS = ("id", "score", "title", "category", "colour", "gender", "price")  # of a table of found items


def option_filters(where=None, category=None, gender=None, colour=None, min_price=None, max_price=None, size=None):
    """The `Filters` of a command's options; prices that contradict each other are a usage error, as a bad value is."""
    from ..store import Filters

    if min_price is not None and max_price is not None and min_price > max_price:
        raise typer.BadParameter(f"the lowest price ({min_price:g}) is above the highest ({max_price:g})",
                                 param_hint="'--min-price' / '--max-price'")
    return Filters.from_fields(where or [], category=category, gender=gender, colour=colour, min_price=min_price,
                               max_price=max_price, size=size)


@contextmanager
def user_errors():
    """Turn DressUp's errors into one red line and exit status 1."""
    try:
        yield
    except DressUpError as error:
        errors.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, markup=True)  # "[train]" is text, not markup
        raise typer.Exit(1) from None


@contextmanager
def extra_needed(extra: str, what: str):
    """Imports of an extra (``train``, ``eval``): a missing torch or scikit-learn is one clear message."""
    try:
        yield
    except ImportError as error:
        raise DressUpError(f"{what}: pip install 'dressup[{extra}]' ({error})") from None


# -- progress ---------------------------------------------------------------------------------

class _Figures(bars.ProgressColumn):
    """A step's figures (``loss 0.312``), or its rate for ``per_second`` steps."""

    def render(self, task) -> str:
        speed = task.finished_speed or task.speed
        if task.fields.get("unit") and speed:
            return f"{speed:,.0f} {task.fields['unit']}/s"
        return " ".join(f"{name} {value:.4g}" for name, value in task.fields.items() if isinstance(value, int | float))


class RichProgress(Progress):
    """Each step of a job as a Rich progress bar: ``with RichProgress() as progress: index_catalog(..., progress=progress)``.

    ``units`` names the unit of steps whose rate is worth showing (``{"embedding": "img"}``).
    """

    def __init__(self, stderr: bool = False, transient: bool = False, units: dict[str, str] | None = None):
        self.bar = bars.Progress(bars.TextColumn("{task.description}"), bars.BarColumn(), bars.MofNCompleteColumn(),
                                 bars.TaskProgressColumn(), _Figures(), bars.TimeRemainingColumn(),
                                 console=Console(stderr=True) if stderr else console, transient=transient)
        self.units = units or {}
        self.tasks: dict[str, bars.TaskID] = {}

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *_) -> None:
        self.bar.stop()

    def update(self, step: str, done: int, total: int | None = None, **figures: float) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.bar.add_task(step, total=total, unit=self.units.get(step))
        self.bar.update(self.tasks[step], completed=done, total=total, **figures)

    def end(self, step: str) -> None:
        if step in self.tasks:
            self.bar.remove_task(self.tasks.pop(step))

    def note(self, message: str) -> None:
        self.bar.console.print(message, markup=False, highlight=False)


# -- output files -----------------------------------------------------------------------------

def check_output_file(path: Path) -> None:
    """Fail now, before any work, where ``path`` cannot be written as a file."""
    if path.is_dir():
        raise DressUpError(f"cannot write {path}: it is a folder; give a file name")
    check_output_folder(path.parent, writing=path)


def check_output_folder(folder: Path, writing: Path | None = None) -> None:
    """Fail now, before any work, where ``folder`` cannot be created or written into."""
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    what = f"write {writing}" if writing else f"write into {folder}"
    if not existing.is_dir():
        raise DressUpError(f"cannot {what}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DressUpError(f"cannot {what}: no permission to write in {existing}")


@contextmanager
def writing(path: Path):
    """Create ``path``'s folder; a failing write (disk full ...) is one clear message, not a traceback."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield
    except OSError as error:
        raise DressUpError(f"cannot write {path}: {error.strerror or error}") from None


def write_report(folder: Path, name: str, report: dict) -> Path:
    """Write a JSON report into ``folder`` (created if needed); returns the folder."""
    from ..files import atomic_write

    with writing(folder / name):
        atomic_write(folder / name, json.dumps(report, indent=2))
    return folder


def write_jsonl(output: Path, lines: list[dict]) -> None:
    from ..files import atomic_write

    with writing(output):
        atomic_write(output, "".join(json.dumps(line) + "\n" for line in lines))


def jsonl_records(path: Path):
    """(line number, record) of each JSON line of ``path`` that has an ``"id"``; one clear error for any other line."""
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


# -- tables -----------------------------------------------------------------------------------

def item_summary(store, row: int) -> dict:
    """The fields of an item shown in tables and JSON output."""
    item = store.item_at(row)
    return {"title": item.title, "category": item.category, "colour": item.colour, "gender": item.gender,
            "price": item.price, "image": item.image}


def print_table(title: str, columns: list[str], rows: list[dict]) -> None:
    """Rows as a Rich table (numbers right-aligned)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in ("score", "price") else "left")
    for row in rows:
        table.add_row(*(cell(row.get(column)) for column in columns))
    console.print(table)


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def print_skipped_rows(report) -> None:
    """On stderr: the rows of an events table that were skipped, by reason, with a few line numbers."""
    for reason, count in report.skipped.items():
        errors.print(f"[yellow]skipped {count:,} row(s): {escape(reason)}[/] ({', '.join(report.examples[reason])})",
                     highlight=False)
