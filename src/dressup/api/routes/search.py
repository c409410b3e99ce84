"""Similar products, for a catalog product or an uploaded photo, and the tags of a photo."""

from fastapi import APIRouter

from .. import schemas
from ..deps import FormFilters, FormK, GenerationDep, ItemId, K, QueryFilters, ShopDep, Upload
from ..present import matches_out, tags_out
from ..protection import rate_limited

router = APIRouter(tags=["search"])


# {item_id}: ids may hold "/" (sent as %2F)
@router.get("/items/{item_id}/similar", response_model=schemas.ItemList)
async def similar_items(generation: GenerationDep, item_id: ItemId, filters: QueryFilters, k: K = 10):
    """The k products most similar to a catalog product."""
    return matches_out(generation, generation.similar_to_item(item_id, k, filters))


@router.post("/similar", response_model=schemas.ItemList, dependencies=[rate_limited("uploads")])
def similar_to_photo(generation: GenerationDep, image: Upload, filters: FormFilters, k: FormK = 10):
    """Upload a photo (multipart field ``image``): the k most similar products."""
    return matches_out(generation, generation.similar_to_photo(generation.photo(image), k, filters))


@router.post("/tags", dependencies=[rate_limited("uploads")])
def tag_photo(shop: ShopDep, image: Upload) -> schemas.Tags:
    """Predicted attributes (type, colour, gender, usage, season) of an uploaded photo, with confidences."""
    return tags_out(shop.tags(image))
