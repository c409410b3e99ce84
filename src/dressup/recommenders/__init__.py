"""Personalised recommendations from users' events (see `recommender`) and their evaluation."""

from .recommender import Recommendation, Recommender, RecommenderConfig, RecommendError

__all__ = ["RecommendError", "Recommendation", "Recommender", "RecommenderConfig"]
