"""Personal feeds: the signed-in user's, or one for a list of liked items without an account."""

from fastapi import APIRouter, Response

from .. import schemas
from ..deps import GenerationDep, K, QueryFilters, UserDep, record_shown, to_filters
from ..present import recommendations_out

router = APIRouter(tags=["recommendations"])


@router.get("/users/me/recommendations", response_model=schemas.ItemList)
def my_recommendations(generation: GenerationDep, user: UserDep, filters: QueryFilters, k: K = 12) -> Response:
    """The signed-in user's feed: their taste, diversified, with a little exploration, after the business rules."""
    served = generation.recommend(user, k, filters)
    record_shown(generation, user, "feed", served)
    return recommendations_out(generation, served)


@router.post("/recommend", response_model=schemas.ItemList)
def recommend_from_liked(generation: GenerationDep, request: schemas.RecommendRequest) -> Response:
    """Recommendations for someone who likes these items, without an account."""
    return recommendations_out(generation, generation.recommend_from_items(request.liked, request.k, to_filters(request)))
