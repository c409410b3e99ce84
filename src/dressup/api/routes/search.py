"""Similar products, for a catalog product or an uploaded photo, and the tags of a photo."""

from typing import Annotated

from fastapi import APIRouter, Query

from .. import schemas
from ..deps import FormFilters, FormK, GenerationDep, ItemId, K, QueryFilters, ShopDep, Upload
from ..present import look_out, matches_out, tags_out
from ..protection import rate_limited

router = APIRouter(tags=["search"])


# {item_id}: ids may hold "/" (sent as %2F)
@router.get("/items/{item_id}/similar", response_model=schemas.ItemList)
async def similar_items(generation: GenerationDep, item_id: ItemId, filters: QueryFilters, k: K = 10):
    """The k products most similar to a catalog product."""
    return matches_out(generation, generation.similar_to_item(item_id, k, filters))


@router.post("/similar", response_model=schemas.ItemList | schemas.Look, dependencies=[rate_limited("uploads")])
def similar_to_photo(generation: GenerationDep, image: Upload, filters: FormFilters, k: FormK = 10,
                     look: Annotated[bool, Query(description="shop the look: the k most similar products of each "
                                                             "garment in the photo")] = False):
    """Upload a photo (multipart field ``image``): the k most similar products, or with ``look=true`` the photo's
    garments (type, box, confidence) each with its k most similar products."""
    if look:
        return look_out(generation, generation.look(generation.photo(image, look=True), k, filters))
    return matches_out(generation, generation.similar_to_photo(generation.photo(image), k, filters))


@router.post("/tags", dependencies=[rate_limited("uploads")])
def tag_photo(shop: ShopDep, image: Upload) -> schemas.Tags:
    """Predicted attributes (type, colour, gender, usage, season) of an uploaded photo, with confidences."""
    return tags_out(shop.tags(image))
