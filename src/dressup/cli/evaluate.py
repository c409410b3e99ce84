"""``dressup eval``: quality on held-out data, against baselines measured in the same run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .common import (
    RichProgress,
    SetOption,
    StoreOption,
    check_output_folder,
    console,
    errors,
    extra_needed,
    print_skipped_rows,
    user_errors,
    write_report,
)

app = typer.Typer(help="Measure quality on held-out data.", no_args_is_help=True)
OutputDir = Annotated[Path | None, typer.Option(help="Where to write the JSON report and PNG (default STORE/reports).")]


def _plots_available() -> None:
    """The `[eval]` extra draws the pictures and computes some metrics: say so before any work."""
    with extra_needed("eval", "evaluation draws its pictures with matplotlib and scores with scikit-learn"):
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401


@app.command("retrieval")
def eval_retrieval(
    store: StoreOption,
    label: Annotated[list[str], typer.Option("--label", "-l", help="Label column a similar item should share; repeat.")],
    k: Annotated[int, typer.Option("-k", min=1)] = 10,
    split_file: Annotated[Path | None, typer.Option(
        help="Table (id, split): queries are its test items; gallery is the whole store (default: splits.csv beside the "
             "store's catalog, when there is one).")] = None,
    split: Annotated[str, typer.Option(help="Which split of the split file to query with.")] = "test",
    all_items: Annotated[bool, typer.Option("--all-items", help="Query with every item, trained on or not.")] = False,
    results: Annotated[Path | None, typer.Option(help="Score a `similar --all` JSON-lines file instead of searching.")] = None,
    output_dir: OutputDir = None,
):
    """Precision@k of similar items per label and jointly, with a PNG of sample queries; the queries are the catalog's
    test split when it has one (items an encoder may have trained on would flatter it)."""
    from ..catalog import split_file_beside
    from ..evaluation.retrieval import evaluate_retrieval, plot_retrieval_samples, read_results, read_split_queries
    from ..store import Store

    with user_errors():
        _plots_available()
        check_output_folder(output_dir or store / "reports")
        opened = Store.open(store)
        source = opened.manifest.get("source", {}).get("path")
        split_file = None if all_items else split_file or (split_file_beside(source) if source else None)
        queries = read_split_queries(opened, split_file, split) if split_file else None
        precomputed = read_results(opened, results) if results else None
        report, query_rows, found = evaluate_retrieval(opened, label, k=k, query_rows=queries, results=precomputed)
        asked = f"{split} split of {split_file.name}" if split_file else "every item"
        console.print(f"retrieval: {report.queries:,} queries ({asked}) against {report.gallery:,} items, "
                      f"encoder {report.encoder}")
        table = Table()
        table.add_column("label")
        table.add_column(f"P@{k}", justify="right")
        for name, value in report.precision.items():
            table.add_row(name, f"{value:.4f}")
        console.print(table)
        folder = write_report(output_dir or store / "reports", "retrieval.json", report.to_dict())
        picture = plot_retrieval_samples(opened, query_rows, found, label[0], folder / "retrieval-samples.png")
        console.print(f"wrote {folder / 'retrieval.json'} and {picture}")


@app.command("tagging")
def eval_tagging(
    catalog: Annotated[Path,
                       typer.Option("--catalog",
                                    help="Catalog with true labels.")] = Path("../shared/data/fashion-product-images"),
    model: Annotated[str | None, typer.Option(help="Encoder with label heads (default: the built-in fashion encoder).")] = None,
    split_file: Annotated[Path | None, typer.Option(help="Table (id, split) (default: splits.csv beside the catalog).")] = None,
    split: Annotated[str, typer.Option(help="Which split to score.")] = "test",
    label: Annotated[list[str] | None,
                     typer.Option("--label", "-l", help="Labels to score (default: all the model predicts).")] = None,
    output_dir: Annotated[Path, typer.Option(help="Where the JSON report and confusion PNGs go.")] = Path("reports/tagging"),
    heads_only: Annotated[bool,
                          typer.Option("--heads-only",
                                       help="Score the label heads alone, without the model's colour stage.")] = False,
):
    """Accuracy, macro-F1 and calibration (ECE) per label on held-out items, with confusion-matrix and reliability PNGs."""
    from ..encoders import DEFAULT_TAGGER, create_encoder
    from ..evaluation.tagging import evaluate_tagging
    from ..tagging import Tagger

    with user_errors():
        _plots_available()
        check_output_folder(output_dir)
        tagger = Tagger(create_encoder(model or DEFAULT_TAGGER), use_colour_stage=not heads_only)
        report = evaluate_tagging(tagger, catalog, split_file, split, label, confusion_dir=output_dir)
        table = Table(title=f"tagging: {report.items:,} {split} items, model {report.encoder}")
        for column in ("label", "accuracy", "macro-F1", "ECE", "unseen values"):
            table.add_column(column, justify="left" if column == "label" else "right")
        for name in report.accuracy:
            table.add_row(name, f"{report.accuracy[name]:.4f}", f"{report.macro_f1[name]:.4f}",
                          f"{report.calibration_error[name]:.4f}", str(report.unknown_values[name]))
        console.print(table)
        if report.unreadable_images:
            errors.print(f"[yellow]skipped {report.unreadable_images:,} unreadable image(s)[/]")
        write_report(output_dir, "tagging.json", report.to_dict())
        console.print(f"wrote {output_dir / 'tagging.json'}, confusion-*.png and reliability-*.png")


@app.command("outfits")
def eval_outfits(
    store: StoreOption,
    outfits: Annotated[Path, typer.Option("--outfits", help="Stylists' outfits (Mango outfits.csv or outfit,item).")],
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    output_dir: Annotated[Path | None, typer.Option(help="Where the JSON report and PNG go (default STORE/reports).")] = None,
):
    """FITB (warm and cold) and compatibility AUC on a split of the outfits, against baselines."""
    import numpy as np

    from ..outfits import OutfitModel, read_outfits
    from ..store import Store

    with user_errors():
        check_output_folder(output_dir or store / "reports")
        with extra_needed("train", "evaluating outfits trains a model, which needs torch"):
            from ..evaluation.outfits import evaluate_outfits, plot_outfits
            from ..training import OutfitTrainConfig
        opened = Store.open(store)
        table = read_outfits(outfits, opened)
        with RichProgress(transient=True) as progress:
            report, model, split = evaluate_outfits(opened, table, OutfitTrainConfig(epochs=epochs), seed=seed, progress=progress)
        result = Table(title=f"outfits: trained on {report.train_outfits:,}; {report.warm_questions:,} warm / "
                             f"{report.cold_questions:,} cold "
                             f"FITB questions (4 candidates); AUC over {report.auc_outfits:,} held-out outfits vs as many "
                             "random ones")
        for column in ("method", "FITB warm", "FITB cold", "compatibility AUC"):
            result.add_column(column, justify="left" if column == "method" else "right")
        for name in report.fitb_warm:
            result.add_row(name, f"{report.fitb_warm[name]:.4f}", f"{report.fitb_cold[name]:.4f}", f"{report.auc[name]:.4f}")
        console.print(result)
        folder = write_report(output_dir or store / "reports", "outfits.json", report.to_dict())
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
        written = f"wrote {folder / 'outfits.json'}" + (f" and {picture}" if picture else "")
        console.print(f"{written}; model trained in {report.training_seconds:.0f} s")


@app.command("personalization")
def eval_personalization(
    store: StoreOption,
    events_file: Annotated[Path, typer.Option("--events", help="Events table (H&M transactions or user,item,event,timestamp).")],
    split_date: Annotated[str, typer.Option(help="Train on events before this date, score purchases from it on.")],
    end_date: Annotated[str | None, typer.Option(help="Score only purchases before this date.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100)] = 12,
    settings: SetOption = None,
    output_dir: OutputDir = None,
):
    """MAP@k, HR@k, coverage and diversity of personal feeds vs baselines, on purchases after a date."""
    from ..evaluation.personalization import MODEL, evaluate_personalization, evaluation_period, plot_personalization
    from ..recommenders import RecommenderConfig
    from ..store import Store
    from ..users import read_events

    with user_errors():
        evaluation_period(split_date, end_date)  # a bad date fails before the events are read
        config = RecommenderConfig.parse(settings or [])
        check_output_folder(output_dir or store / "reports")
        opened = Store.open(store)
        events, read = read_events(events_file)
        print_skipped_rows(read)
        report, _ = evaluate_personalization(opened, events, split_date, k, end_date, config)
        table = Table(title=f"purchases from {report.split_date}: {report.test_users:,} users ({report.cold_users:,} new), "
                            f"trained on {report.train_events:,} events")
        for column in ("method", f"MAP@{k}", f"HR@{k}", "coverage", "diversity"):
            table.add_column(column, justify="left" if column == "method" else "right")
        for name, m in report.methods.items():
            style = "bold green" if name == MODEL else None
            table.add_row(name, f"{m['map']:.4f}", f"{m['hit_rate']:.4f}", f"{m['coverage']:.4f}", f"{m['diversity']:.4f}",
                          style=style)
        console.print(table)
        summary = report.to_dict()
        if summary["map_ratio_to_best_baseline"] is not None:
            low, high = report.map_ratio_interval
            console.print(f"{MODEL} / best baseline ({summary['best_baseline']['name']}): "
                          f"{summary['map_ratio_to_best_baseline']:.2f}x "
                          f"(95% interval over resampled users: {low:.2f}x to {high:.2f}x)")
        folder = write_report(output_dir or store / "reports", "personalization.json", summary)
        picture = plot_personalization(report, folder / "personalization.png")
        console.print(f"report: {folder / 'personalization.json'}, {picture}")
