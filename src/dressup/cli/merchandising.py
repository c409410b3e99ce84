"""``dressup rules``, ``dressup experiments`` and ``dressup report experiments``: business rules, experiments and
what each variant earned."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import DressUpError
from .common import DatabaseOption, StoreOption, console, errors, extra_needed, print_table, user_errors, write_report

rules_app = typer.Typer(help="Business rules: boost, bury, pin and hide products, per surface.", no_args_is_help=True)
experiments_app = typer.Typer(help="Experiments: users split between variants of the rules.", no_args_is_help=True)
report_app = typer.Typer(help="Reports on what the shop served.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SettingsFile = Annotated[Path, typer.Argument(help="A JSON file ({\"rules\": [...]} or {\"experiments\": [...]}).")]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DressUpError(f"cannot read {path}: {error.strerror or error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DressUpError(f"{path}: not valid JSON ({error})") from None


def _shop(store: Path, database: str | None):
    from ..shop import Shop

    return Shop(store, database)


@rules_app.command("show")
def rules_show(store: StoreOption, database: DatabaseOption = None, as_json: JsonOption = False):
    """The store's business rules."""
    with user_errors():
        rules = _shop(store, database).merchandising()[0]
    if as_json:
        print(json.dumps(rules.to_json(), indent=2))
        return
    if not rules:
        console.print("no business rules: items are served as ranked")
        return
    print_table("business rules (applied in this order after ranking)", ["rule", "action", "what", "surfaces"], [
        {"rule": number, "action": rule.action, "what": _what(rule), "surfaces": ", ".join(rule.surfaces)}
        for number, rule in enumerate(rules.rules, 1)])


def _what(rule) -> str:
    named = f" ({rule.name})" if rule.name else ""
    if rule.action == "pin":
        return f"{rule.item} at slot {rule.slot}{named}"
    return " and ".join(rule.when) + (f", {rule.positions} places" if rule.positions else "") + named


@rules_app.command("set")
def rules_set(rules_file: SettingsFile, store: StoreOption, database: DatabaseOption = None):
    """Replace the store's rules with those of a file (checked first: a bad rule changes nothing). Running servers
    serve them within a second."""
    with user_errors():
        rules = _shop(store, database).set_rules(_read_json(rules_file))
    console.print(f"stored {len(rules.rules)} rule(s) for {store}")


@rules_app.command("clear")
def rules_clear(store: StoreOption, database: DatabaseOption = None):
    """Remove every business rule."""
    with user_errors():
        _shop(store, database).set_rules({"rules": []})
    console.print(f"no business rules for {store} now")


@experiments_app.command("show")
def experiments_show(store: StoreOption, database: DatabaseOption = None, as_json: JsonOption = False):
    """The store's running experiments."""
    with user_errors():
        experiments = _shop(store, database).merchandising()[1]
    if as_json:
        print(json.dumps(experiments.to_json(), indent=2))
        return
    if not experiments.experiments:
        console.print("no experiment is running")
        return
    print_table("running experiments", ["experiment", "surfaces", "variants"], [
        {"experiment": e.name, "surfaces": ", ".join(e.surfaces),
         "variants": ", ".join(f"{v.name} ({v.weight:g}, {len(v.rules.rules)} rules)" for v in e.variants)}
        for e in experiments.experiments])


@experiments_app.command("set")
def experiments_set(experiments_file: SettingsFile, store: StoreOption, database: DatabaseOption = None):
    """Replace the running experiments with those of a file (checked first). Changing a running experiment's variants
    or weights moves users between them: give it a new name instead."""
    with user_errors():
        experiments = _shop(store, database).set_experiments(_read_json(experiments_file))
    console.print(f"{len(experiments.experiments)} experiment(s) running for {store}")


@experiments_app.command("stop")
def experiments_stop(store: StoreOption, database: DatabaseOption = None):
    """Stop every experiment (their exposures stay, for `dressup report experiments`)."""
    with user_errors():
        _shop(store, database).set_experiments({"experiments": []})
    console.print("no experiment is running now")


def _rate(row: dict, metric: str) -> str:
    """A rate and its interval, "n/a" where there is none (a variant with no impressions yet)."""
    value, low, high = row[metric], row[f"{metric} low"], row[f"{metric} high"]
    if value is None:
        return "n/a"
    return f"{value:.1%}" + (f" ({low:.1%}-{high:.1%})" if low is not None and high is not None else " (no interval)")


@report_app.command("experiments")
def report_experiments(
    store: StoreOption,
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", help="Experiment to report (repeat; default: every running one).")] = None,
    output_dir: Annotated[Path | None, typer.Option(help="Where the JSON report and PNG go (default STORE/reports).")] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
):
    """Click-through, add-to-cart and purchase rates per variant, with 95% intervals (bootstrap over users), as a
    table, a JSON report and a PNG chart. A cart or purchase counts when its item was shown to the user first."""
    from ..experiments import report_chart, report_records

    with user_errors():
        shop = _shop(store, database)
        names = experiment or [e.name for e in shop.merchandising()[1].experiments]
        if not names:
            raise DressUpError("no experiment is running; name a past one with --experiment NAME")
        folder = output_dir or store / "reports"
        reports = {}
        for name in names:
            table = shop.experiment_report(name)
            if table is None:
                errors.print(f"experiment {name}: no impressions recorded yet", highlight=False, markup=False)
                continue
            reports[name] = table
            with extra_needed("eval", "the report's chart"):
                folder.mkdir(parents=True, exist_ok=True)
                report_chart(table, name, folder / f"experiment-{name}.png")
        if not reports:
            raise DressUpError("nothing to report: no experiment has recorded impressions")
        write_report(folder, "experiments.json", {name: report_records(table) for name, table in reports.items()})
    if as_json:
        print(json.dumps({name: report_records(table) for name, table in reports.items()}, indent=2))
        return
    for name, table in reports.items():
        print_table(f"experiment {name}", ["variant", "users", "impressions", "clicks", "click-through", "add-to-cart",
                                           "purchase"],
                    [{**{c: row[c] for c in ("variant", "users", "impressions", "clicks")},
                      **{m: _rate(row, m) for m in ("click-through", "add-to-cart", "purchase")}}
                     for row in report_records(table)])
        console.print(f"chart: {folder / f'experiment-{name}.png'}")
