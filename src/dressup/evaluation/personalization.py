"""Offline evaluation of personal feeds: train on events before a date, score the lists on later purchases.

Every registered recommender runs in the same call: DressUp's own and the baselines of `dressup.recommenders.baselines`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics import average_precisions_at_k, bootstrap_ratio_interval, catalog_coverage, hit_rate_at_k, intra_list_diversity
from ..recommenders import RECOMMENDERS, DressUpRecommender, RecommenderConfig, RecommendError, create_recommender
from ..store import Store
from ..users import EventTable

MODEL = DressUpRecommender.title
UNDIVERSIFIED = f"{MODEL}, no diversity or exploration"


def is_baseline(method: str) -> bool:
    """A method of the report that is not DressUp itself (with or without diversity)."""
    return not method.startswith(MODEL)


@dataclass
class PersonalizationReport:
    split_date: str
    end_date: str | None
    k: int
    train_events: int
    test_users: int
    cold_users: int
    test_purchases: int
    methods: dict[str, dict[str, float]] = field(default_factory=dict)
    map_ratio_interval: tuple[float, float] | None = None  # 95%, users resampled, best baseline re-picked each time

    def best_baseline(self) -> tuple[str, float]:
        baselines = {name: m["map"] for name, m in self.methods.items() if is_baseline(name)}
        name = max(baselines, key=baselines.get)
        return name, baselines[name]

    def to_dict(self) -> dict:
        data = asdict(self)
        name, value = self.best_baseline()
        data["best_baseline"] = {"name": name, "map": value}
        data["map_ratio_to_best_baseline"] = self.methods[MODEL]["map"] / value if value else None
        return data


def evaluate_personalization(store: Store, events: pd.DataFrame, split_date, k: int = 12, end_date=None,
                             config: RecommenderConfig | None = None) -> tuple[PersonalizationReport, dict[str, list[list[str]]]]:
    """Score every registered recommender's k-item lists (`dressup.recommenders.RECOMMENDERS`) on the purchases made
    from ``split_date`` (until ``end_date``), each trained on the events before it."""
    split, end = evaluation_period(split_date, end_date)
    if getattr(events["timestamp"].dtype, "tz", None) is not None:  # compare in naive UTC, as the database returns
        events = events.assign(timestamp=events["timestamp"].dt.tz_convert(None))
    train = EventTable(events[events["timestamp"] < split])
    later = events[(events["timestamp"] >= split) & (events["kind"] == "purchase")]
    if end is not None:
        later = later[later["timestamp"] < end]
    later = later[store.rows_of(later["item"].to_numpy()) >= 0]
    if not len(train) or later.empty:
        raise RecommendError(f"the split date {split.date()} leaves no events before it or no purchases after it")
    truth = later.groupby("user")["item"].apply(set)
    users = truth.index.tolist()
    config = config or RecommenderConfig()
    lists = {}
    for name in RECOMMENDERS:
        recommender = create_recommender(name, store, train, config)
        lists[recommender.title] = _lists(recommender, users, k)
        if isinstance(recommender, DressUpRecommender):  # fitted once: the second pass only changes the re-ranking
            plain = recommender.with_config(config.with_options(diversity=0.0, exploration=0.0))
            lists[UNDIVERSIFIED] = _lists(plain, users, k)
    actual = [truth[user] for user in users]
    report = PersonalizationReport(str(split.date()), None if end is None else str(end.date()), k, len(train), len(users),
                                   len(users) - len(train.with_events(users)), len(later))
    vectors = np.asarray(store.vectors)
    precisions = {name: average_precisions_at_k(actual, predicted, k) for name, predicted in lists.items()}
    for name, predicted in lists.items():
        report.methods[name] = {
            "map": float(precisions[name].mean()),
            "hit_rate": hit_rate_at_k(actual, predicted, k),
            "coverage": catalog_coverage(predicted, len(store)),
            "diversity": intra_list_diversity([vectors[store.rows_of(items)] for items in predicted]),
        }
    baselines = [scores for name, scores in precisions.items() if is_baseline(name)]
    report.map_ratio_interval = bootstrap_ratio_interval(precisions[MODEL], baselines)  # best baseline re-picked per draw
    return report, lists


def _lists(recommender, users: list[str], k: int) -> list[list[str]]:
    return [[r.id for r in found] for found in recommender.recommend_many(users, k)]


def evaluation_period(split_date, end_date=None) -> tuple[pd.Timestamp, pd.Timestamp | None]:
    """The split and end dates as naive UTC; a `RecommendError` for a date that is none, or an end not after the split."""
    split, end = _utc_naive(split_date), _utc_naive(end_date) if end_date is not None else None
    if end is not None and end <= split:
        raise RecommendError(f"the end date ({end_date}) must come after the split date ({split_date})")
    return split, end


def _utc_naive(moment) -> pd.Timestamp:
    """A date or time as naive UTC (a time with an offset is converted)."""
    try:
        parsed = pd.Timestamp(moment)
    except (ValueError, TypeError):
        parsed = pd.NaT
    if parsed is pd.NaT:
        raise RecommendError(f"not a date: {moment!r} (use YYYY-MM-DD)")
    return parsed.tz_convert("UTC").tz_localize(None) if parsed.tzinfo is not None else parsed


def plot_personalization(report: PersonalizationReport, path: str | Path) -> Path:
    """Bar chart of MAP@k and HR@k per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report.methods)
    figure, axes = plt.subplots(1, 2, figsize=(11, 0.5 * len(names) + 1.8))
    for axis, metric, title in ((axes[0], "map", f"MAP@{report.k}"), (axes[1], "hit_rate", f"HR@{report.k}")):
        values = [report.methods[n][metric] for n in names]
        axis.barh(names, values, color=["tab:gray" if is_baseline(n) else "tab:green" for n in names])
        axis.invert_yaxis()
        axis.set_title(title)
        for y, v in enumerate(values):
            axis.text(v, y, f" {v:.4f}", va="center", fontsize=8)
    axes[1].set_yticklabels([])
    figure.suptitle(f"purchases from {report.split_date}: {report.test_users} users ({report.cold_users} without history)")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
