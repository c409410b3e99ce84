"""Offline evaluation of personal feeds: train on events before a date, score the lists on later purchases.

Baselines run in the same call: recent best-sellers, the user's own past purchases then best-sellers, and
the seeds' content-based method (nearest neighbours of the mean vector of the user's items).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics import average_precisions_at_k, bootstrap_ratio_interval, catalog_coverage, hit_rate_at_k, intra_list_diversity
from ..store import Store
from .recommender import Recommender, RecommenderConfig, RecommendError

MODEL = "DressUp"
UNDIVERSIFIED = "DressUp, no diversity or exploration"


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
    """Score every method's k-item lists on the purchases made from ``split_date`` (until ``end_date``)."""
    split, end = evaluation_period(split_date, end_date)
    if getattr(events["timestamp"].dtype, "tz", None) is not None:  # compare in naive UTC, as the database returns
        events = events.assign(timestamp=events["timestamp"].dt.tz_convert(None))
    train = events[events["timestamp"] < split]
    later = events[(events["timestamp"] >= split) & (events["kind"] == "purchase")]
    if end is not None:
        later = later[later["timestamp"] < end]
    later = later[store.rows_of(later["item"].to_numpy()) >= 0]
    if train.empty or later.empty:
        raise RecommendError(f"the split date {split.date()} leaves no events before it or no purchases after it")
    truth = later.groupby("user")["item"].apply(set)
    users = truth.index.tolist()
    config = config or RecommenderConfig()
    recommender = Recommender(store, train, config)  # fitted once: the second pass only changes the re-ranking
    lists = {**_baselines(store, train, users, k, split), MODEL: _model_lists(recommender, users, k)}
    recommender.config = config.with_options(diversity=0.0, exploration=0.0)
    lists[UNDIVERSIFIED] = _model_lists(recommender, users, k)
    actual = [truth[user] for user in users]
    known_users = set(train["user"])
    report = PersonalizationReport(str(split.date()), None if end is None else str(end.date()), k, len(train), len(users),
                                   sum(user not in known_users for user in users), len(later))
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


def _model_lists(recommender: Recommender, users: list[str], k: int) -> list[list[str]]:
    return [[r.id for r in recommender.recommend(user, k)] for user in users]


def _baselines(store: Store, train: pd.DataFrame, users: list[str], k: int, split: pd.Timestamp) -> dict[str, list[list[str]]]:
    purchases = train[(train["kind"] == "purchase") & (store.rows_of(train["item"].to_numpy()) >= 0)]
    popular = {days: purchases[purchases["timestamp"] >= split - pd.Timedelta(days=days)]["item"].value_counts().index.tolist()
               for days in (7, 30)}
    best_sellers = purchases["item"].value_counts().index[: 4 * k].tolist()
    for days, items in popular.items():  # a quiet week: fill with all-time best-sellers
        popular[days] = list(dict.fromkeys([*items[: 4 * k], *best_sellers]))[: 4 * k]
    history = purchases.sort_values("timestamp", ascending=False).groupby("user")["item"].apply(lambda s: list(dict.fromkeys(s)))
    own_then_popular = [_fill(history.get(user, []), popular[30], k) for user in users]
    content = _content_based(store, [store.rows_of(history.get(user, [])) for user in users], k, popular[30])
    return {"popular (last 7 days)": [popular[7][:k]] * len(users), "popular (last 30 days)": [popular[30][:k]] * len(users),
            "own past purchases, then popular": own_then_popular, "content-based (seeds)": content}


def _content_based(store: Store, histories: list[np.ndarray], k: int, fallback: list[str]) -> list[list[str]]:
    """The seeds' method: nearest neighbours of the mean vector of a user's items (theirs excluded), in one search."""
    known = [i for i, rows in enumerate(histories) if len(rows)]
    lists = [fallback[:k] for _ in histories]
    if not known:
        return lists
    vectors = np.asarray(store.vectors)
    means = np.stack([vectors[histories[i]].mean(axis=0) for i in known]).astype(np.float32)
    found, _ = store.index.search(means, k + max(len(histories[i]) for i in known))
    for i, neighbours in zip(known, found):
        own = set(histories[i].tolist())
        lists[i] = _fill([store.ids[r] for r in neighbours if r >= 0 and r not in own], fallback, k)
    return lists


def _fill(first: list[str], then: list[str], k: int) -> list[str]:
    return list(dict.fromkeys([*first[:k], *then[: 2 * k]]))[:k]


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
