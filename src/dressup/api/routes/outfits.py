"""Complete outfits around a cart or wardrobe."""

from fastapi import APIRouter

from .. import schemas
from ..deps import GenerationDep, OptionalUserDep, record_shown, to_filters
from ..present import outfits_out
from ..protection import rate_limited

router = APIRouter(tags=["outfits"])


@router.post("/outfits", dependencies=[rate_limited("outfits")])
def complete_outfits(generation: GenerationDep, request: schemas.OutfitRequest, user: OptionalUserDep) -> schemas.Outfits:
    """Complete outfits around the items of a cart or wardrobe (filters apply to the added items), after the business
    rules: hidden items are never proposed, boosts and buries reorder the outfits."""
    served = generation.outfits(request.items, request.n, to_filters(request), request.budget, user=user)
    record_shown(generation, user, "outfits", served, list(dict.fromkeys(i for outfit in served for i in outfit.proposed)))
    return outfits_out(generation, served)
