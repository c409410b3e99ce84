"""Personal feeds from users' events: DressUp's own (`dressup`) and the baselines it is measured against.

``create_recommender(name, store, events)`` builds one by name; `RECOMMENDERS` lists them. A new method is one
file with a `Recommender` subclass plus its line in `RECOMMENDERS`: evaluations then report it too.
"""

from __future__ import annotations

from .base import Recommendation, Recommender, RecommendError
from .baselines import ContentBased, OwnPastThenPopular, PopularLastWeek, PopularRecommender
from .config import RecommenderConfig
from .dressup import DressUpRecommender

#: Every recommender by name: DressUp's own first, then the baselines.
RECOMMENDERS: dict[str, type[Recommender]] = {
    method.name: method for method in (DressUpRecommender, PopularLastWeek, PopularRecommender, OwnPastThenPopular, ContentBased)
}


def create_recommender(name: str, store, events, config: RecommenderConfig | None = None) -> Recommender:
    """The recommender registered as ``name`` over ``store`` and an `EventSource` (or an events DataFrame)."""
    if name not in RECOMMENDERS:
        raise RecommendError(f"unknown recommender {name!r}; use one of {', '.join(RECOMMENDERS)}")
    return RECOMMENDERS[name](store, events, config)


__all__ = ["RECOMMENDERS", "ContentBased", "DressUpRecommender", "OwnPastThenPopular", "PopularLastWeek", "PopularRecommender",
           "RecommendError", "Recommendation", "Recommender", "RecommenderConfig", "create_recommender"]
