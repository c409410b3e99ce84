"""`RecommenderConfig`: how DressUp's feed weighs its signals and re-ranks its candidates.

>>> RecommenderConfig().with_options(diversity=0.3).diversity
0.3
>>> RecommenderConfig.parse(["history=3", "variant_column=none"]).variant_column is None
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from .base import RecommendError
from .scores import SCORES


@dataclass(frozen=True)
class RecommenderConfig:
    """How signals are weighed; the defaults were chosen on H&M validation months before 2020-06 (see README)."""

    history: float = 2.0          # items the user bought or liked again
    once_buyer_history: float = 0.5  # share of that weight for what was bought by users who never bought an item on two days
    variants: float = 0.5         # other variants (e.g. colours, `variant_column`) of those items
    collaborative: float = 0.2    # bought together with them by other users
    content: float = 0.3          # visually close to one of the user's interests
    popularity: float = 0.3       # recent best-sellers
    favourite_categories: float = 0.5  # recent best-sellers of the categories the user buys
    content_power: float = 4.0    # sharpens content similarity: only close items count
    half_life_days: float = 140.0            # how fast a user's old events fade
    popularity_half_life_days: float = 10.0  # how fast sales stop counting as "popular now"
    max_interests: int = 8        # clusters of a user's taste
    neighbours: int = 100         # index candidates per interest
    diversity: float = 0.5        # MMR trade-off: 0 = ranked by score only
    alike_above: float = 0.7      # MMR pushes apart only items more similar than this (cosine)
    exploration: float = 0.08     # share of slots given to less certain candidates
    rebuy_above: float = 1.0      # a bought item comes back only when its category's buyers rebuy at least this many
                                  # times as often as the catalog's (socks, basics); 0: always
    variant_column: str | None = "auto"  # "auto": the column its catalog layout names (H&M: product_code)
    refit_seconds: float = 60.0   # with a live database: look for new events at most this often (refits run in the background)
    seed: int = 0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if name == "variant_column":
                if value is not None and not isinstance(value, str):
                    raise RecommendError(f"variant_column must be a column name or None, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise RecommendError(f"recommender setting {name} must be a number, not {value!r}")
        limits = {name: (0.0, math.inf) for name in (*SCORES, "refit_seconds", "seed")}
        limits.update(diversity=(0.0, 1.0), exploration=(0.0, 0.5), alike_above=(-1.0, 0.999), once_buyer_history=(0.0, 1.0),
                      rebuy_above=(0.0, math.inf))
        for name, (low, high) in limits.items():
            if not low <= getattr(self, name) <= high:
                raise RecommendError(f"recommender setting {name} must be within {low:g} and {high:g}, not "
                                     f"{getattr(self, name)!r}")
        positive = ("content_power", "half_life_days", "popularity_half_life_days", "max_interests", "neighbours")
        for name in positive:
            if getattr(self, name) <= 0:
                raise RecommendError(f"recommender setting {name} must be above 0, not {getattr(self, name)!r}")
        for name in ("max_interests", "neighbours", "seed"):
            if int(getattr(self, name)) != getattr(self, name):
                raise RecommendError(f"recommender setting {name} must be a whole number, not {getattr(self, name)!r}")

    def with_options(self, **options) -> RecommenderConfig:
        unknown = set(options) - set(asdict(self))
        if unknown:
            raise RecommendError(f"unknown recommender setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **options)

    @classmethod
    def parse(cls, settings: Sequence[str] = (), base: RecommenderConfig | None = None) -> RecommenderConfig:
        """The defaults (or ``base``) changed by ``NAME=VALUE`` settings (``--set`` on the command line)."""
        options = {}
        for setting in settings:
            name, sep, text = setting.partition("=")
            if not sep:
                raise RecommendError(f"malformed setting {setting!r}: use NAME=VALUE")
            options[name.strip()] = _setting_value(text.strip())
        return (base or cls()).with_options(**options)

    def weight(self, signal: str) -> float:
        return getattr(self, signal)


def _setting_value(text: str):
    """``3`` -> 3, ``0.5``/``1e-1`` -> float, ``none`` -> None, anything else stays text (checked by the config)."""
    if text.lower() == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
