"""Experiments: users split between variants of the business rules by a stable hash, and what each variant earned.

A store's experiments are one JSON object (its ``experiments`` setting: ``dressup experiments set``, or
``PUT /admin/experiments``):

>>> experiments = Experiments.from_json({"experiments": [{"name": "boost-new", "surfaces": ["feed"], "variants": [
...     {"name": "control"},
...     {"name": "boosted", "rules": [{"action": "boost", "when": ["new=yes"], "positions": 4}]}]}]})
>>> experiments.experiments[0].variant_for("alice").name in ("control", "boosted")
True

A user's variant is fixed by ``sha256(experiment name / user id)``, so every worker and node, and the report, agree
without storing it, and a returning user sees the same variant. ``weight`` shares users between variants (default 1
each). A variant's ``rules`` are added to the store's own, on the experiment's surfaces, for its users; its
``recommender`` settings (``["diversity=0.2"]``) change its users' feeds, ranked by a recommender of their own.

While an experiment runs, the server records each signed-in user's impressions (the items a variant showed) and clicks
(``POST /users/me/clicks``) as exposures; `experiment_report` turns them, and the users' later add-to-cart and
purchase events on the items they were shown, into rates per variant with 95% intervals.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .errors import DressUpError
from .merchandising import SURFACES, RuleError, Rules, parse_surfaces
from .recommenders import RecommenderConfig
from .recommenders.base import RecommendError

MAX_EXPERIMENTS = 20
MAX_VARIANTS = 10


class ExperimentError(DressUpError, ValueError):
    """Experiments that cannot be run: a bad name, weight or surface, or bad rules in a variant."""


@dataclass(frozen=True)
class Variant:
    name: str
    weight: float = 1.0
    rules: Rules = Rules()
    recommender: tuple[str, ...] = ()  # feed settings NAME=VALUE ("diversity=0.3"), over the shop's own


@dataclass(frozen=True)
class Experiment:
    name: str
    variants: tuple[Variant, ...]
    surfaces: tuple[str, ...] = SURFACES

    def variant_for(self, user: str) -> Variant:
        """The user's variant: the same on every call, worker and node."""
        digest = hashlib.sha256(f"{self.name}/{user}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
        return self.variants[min(int(np.searchsorted(self._bounds, point, side="right")), len(self.variants) - 1)]

    @cached_property  # asked on every request of a signed-in user
    def _bounds(self) -> np.ndarray:
        """Where each variant's share of [0, 1) ends."""
        weights = np.array([v.weight for v in self.variants])
        return np.cumsum(weights) / weights.sum()

    def to_json(self) -> dict:
        return {"name": self.name, "surfaces": list(self.surfaces),
                "variants": [{"name": v.name, "weight": v.weight, **v.rules.to_json(),
                              **({"recommender": list(v.recommender)} if v.recommender else {})} for v in self.variants]}


def _name(value, what: str) -> str:
    """A name that is also safe in a file name (the report's chart)."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", value):
        raise ExperimentError(f"{what} needs a 'name' of 1 to 64 letters, digits, '.', '_' or '-', not {value!r}")
    return value


def parse_experiment(data, number: int) -> Experiment:
    where = f"experiment {number}"
    if not isinstance(data, Mapping) or set(data) - {"name", "surfaces", "variants"}:
        raise ExperimentError(f"{where}: an experiment is an object with 'name', 'variants' and optional 'surfaces'")
    name = _name(data.get("name"), where)
    surfaces = parse_surfaces(data.get("surfaces", list(SURFACES)), where, ExperimentError)
    variants = data.get("variants")
    if not isinstance(variants, list) or not 2 <= len(variants) <= MAX_VARIANTS:
        raise ExperimentError(f"{where}: give 2 to {MAX_VARIANTS} variants")
    parsed = tuple(_variant(v, f"{where}, variant {i}") for i, v in enumerate(variants, 1))
    if len({v.name for v in parsed}) != len(parsed):
        raise ExperimentError(f"{where}: two variants have the same name")
    return Experiment(name, parsed, surfaces)


def _variant(data, where: str) -> Variant:
    if not isinstance(data, Mapping) or set(data) - {"name", "weight", "rules", "recommender"}:
        raise ExperimentError(f"{where}: a variant is an object with 'name', optional 'weight', 'rules' and "
                              "'recommender' (feed settings)")
    weight = data.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 1000:
        raise ExperimentError(f"{where}: 'weight' is a number above 0 (a share of the users), not {weight!r}")
    try:
        rules = Rules.from_json(data.get("rules", []))
    except RuleError as error:
        raise ExperimentError(f"{where}: {error}") from None
    settings = data.get("recommender", [])
    if not isinstance(settings, list) or not all(isinstance(setting, str) for setting in settings):
        raise ExperimentError(f"{where}: 'recommender' is a list of feed settings like \"diversity=0.3\"")
    try:
        RecommenderConfig.parse(settings)
    except (RecommendError, ValueError, TypeError) as error:
        raise ExperimentError(f"{where}: {error}") from None
    return Variant(_name(data.get("name"), where), float(weight), rules, tuple(settings))


@dataclass(frozen=True)
class Experiments:
    """A store's running experiments."""

    experiments: tuple[Experiment, ...] = ()

    @classmethod
    def from_json(cls, data) -> Experiments:
        if isinstance(data, Mapping):
            if set(data) - {"experiments"}:
                raise ExperimentError("the experiments are a JSON object {\"experiments\": [...]}")
            data = data.get("experiments", [])
        if not isinstance(data, list) or len(data) > MAX_EXPERIMENTS:
            raise ExperimentError(f"the experiments are a list of at most {MAX_EXPERIMENTS}")
        parsed = tuple(parse_experiment(e, number) for number, e in enumerate(data, 1))
        if len({e.name for e in parsed}) != len(parsed):
            raise ExperimentError("two experiments have the same name")
        return cls(parsed)

    def to_json(self) -> dict:
        return {"experiments": [e.to_json() for e in self.experiments]}

    def assigned(self, user: str | None, surface: str) -> list[tuple[Experiment, Variant]]:
        """The experiments running on a surface and the user's variant in each (none for an anonymous request)."""
        if user is None:
            return []
        return [(e, e.variant_for(user)) for e in self.experiments if surface in e.surfaces]

    def check(self, state) -> None:
        """Refuse variants whose rules name a column this catalog lacks (before they are stored)."""
        for experiment in self.experiments:
            for variant in experiment.variants:
                try:
                    variant.rules.check(state)
                except RuleError as error:
                    raise ExperimentError(f"experiment {experiment.name!r}, variant {variant.name!r}: {error}") from None


NO_EXPERIMENTS = Experiments()

# -- the report ----------------------------------------------------------------------------------------------------
METRICS = {"click-through": "clicks per impression", "add-to-cart": "users who carted an item they were shown",
           "purchase": "users who bought an item they were shown"}


def experiment_report(exposed: pd.DataFrame, later: pd.DataFrame, resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per variant: users, impressions, clicks and each metric with a 95% bootstrap interval over users.

    ``exposed``: the experiment's exposures (user, variant, item, kind, timestamp); ``later``: the exposed users'
    cart and purchase events (user, item, kind, timestamp). A cart or purchase counts when its item was shown to
    the user before it.
    """
    impressions = exposed[exposed["kind"] == "impression"]
    shown = impressions.groupby(["user", "item"])["timestamp"].min().rename("shown").reset_index()
    acted = later.merge(shown, on=["user", "item"])
    acted = acted[acted["timestamp"] >= acted["shown"]]
    users = exposed.groupby("user")["variant"].first()  # a user's variant is fixed by the hash: any row tells it
    per_user = pd.DataFrame({
        "variant": users,
        "impressions": impressions.groupby("user").size(),
        "clicks": exposed[exposed["kind"] == "click"].groupby("user").size(),
        "carted": acted[acted["kind"] == "cart"].groupby("user").size() > 0,
        "bought": acted[acted["kind"] == "purchase"].groupby("user").size() > 0,
    }).fillna({"impressions": 0, "clicks": 0, "carted": False, "bought": False})
    rng = np.random.default_rng(seed)
    rows = []
    for variant, group in per_user.groupby("variant", sort=True):
        shown_n, clicks = group["impressions"].to_numpy(float), group["clicks"].to_numpy(float)
        carted, bought = group["carted"].to_numpy(float), group["bought"].to_numpy(float)
        picks = rng.integers(0, len(group), size=(resamples, len(group)))
        with np.errstate(invalid="ignore", divide="ignore"):
            ctr = clicks[picks].sum(1) / shown_n[picks].sum(1)
        row = {"variant": variant, "users": len(group), "impressions": int(shown_n.sum()), "clicks": int(clicks.sum())}
        for metric, point, samples in (("click-through", clicks.sum() / max(shown_n.sum(), 1), ctr),
                                       ("add-to-cart", carted.mean(), carted[picks].mean(1)),
                                       ("purchase", bought.mean(), bought[picks].mean(1))):
            low, high = np.nanpercentile(samples, [2.5, 97.5]) if np.isfinite(samples).any() else (np.nan, np.nan)
            row.update({metric: float(point), f"{metric} low": float(low), f"{metric} high": float(high)})
        rows.append(row)
    return pd.DataFrame(rows)


def report_records(table: pd.DataFrame) -> list[dict]:
    """The report's rows for JSON: an interval that could not be drawn (no impressions) is null."""
    return table.astype(object).where(table.notna(), None).to_dict("records")


def report_chart(table: pd.DataFrame, experiment: str, path) -> None:
    """Each metric per variant as bars with their 95% intervals, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.6))
    colours = plt.get_cmap("tab10").colors
    for axis, (metric, meaning) in zip(axes, METRICS.items()):
        values = table[metric].to_numpy(float)
        errors = np.vstack([values - table[f"{metric} low"], table[f"{metric} high"] - values]).clip(min=0)
        axis.bar(table["variant"], values, yerr=errors, capsize=6, color=colours[: len(table)])
        axis.set_title(f"{metric}\n({meaning})", fontsize=10)
        axis.set_ylim(0, max(0.05, float(np.nanmax(np.append(table[f"{metric} high"].to_numpy(float), values))) * 1.25))
        tops = np.nan_to_num(table[f"{metric} high"].to_numpy(float), nan=0.0)
        for x, (value, top, users) in enumerate(zip(values, np.maximum(tops, values), table["users"])):
            axis.annotate(f"{value:.1%}\nn={users}", (x, top), textcoords="offset points", xytext=(0, 4),
                          ha="center", fontsize=8)
        axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    figure.suptitle(f"Experiment {experiment}: rates per variant, 95% bootstrap intervals over users")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
