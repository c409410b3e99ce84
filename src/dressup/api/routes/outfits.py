"""Complete outfits around a cart or wardrobe."""

from fastapi import APIRouter

from .. import schemas
from ..deps import GenerationDep, to_filters
from ..present import outfits_out
from ..protection import rate_limited

router = APIRouter(tags=["outfits"])


@router.post("/outfits", dependencies=[rate_limited("outfits")])
def complete_outfits(generation: GenerationDep, request: schemas.OutfitRequest) -> schemas.Outfits:
    """Complete outfits around the items of a cart or wardrobe (filters apply to the added items)."""
    return outfits_out(generation, generation.outfits(request.items, request.n, to_filters(request), request.budget))
