"""Similar products, for a catalog product or an uploaded photo; text search; and the tags of a photo."""

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query

from ...store.text_search import MAX_QUERY_CHARACTERS
from .. import schemas
from ..deps import (
    FormFilters,
    FormK,
    GenerationDep,
    ItemId,
    K,
    OptionalUpload,
    OptionalUserDep,
    QueryFilters,
    ShopDep,
    Upload,
    record_shown,
    shown,
)
from ..present import look_out, matches_out, search_out, similar_reason, tags_out
from ..protection import rate_limited

router = APIRouter(tags=["search"])


# {item_id}: ids may hold "/" (sent as %2F)
@router.get("/items/{item_id}/similar", response_model=schemas.ItemList)
async def similar_items(generation: GenerationDep, item_id: ItemId, filters: QueryFilters, user: OptionalUserDep, k: K = 10):
    """The k products most similar to a catalog product, after the store's business rules."""
    served = generation.similar_to_item(item_id, k, filters, user)
    await shown(generation, user, "similar", served)
    return matches_out(generation, served, similar_reason(generation, item_id))


@router.post("/similar", response_model=schemas.ItemList | schemas.Look, dependencies=[rate_limited("uploads")])
def similar_to_photo(generation: GenerationDep, image: Upload, filters: FormFilters, user: OptionalUserDep, k: FormK = 10,
                     look: Annotated[bool, Query(description="shop the look: the k most similar products of each "
                                                             "garment in the photo")] = False):
    """Upload a photo (multipart field ``image``): the k most similar products, or with ``look=true`` the photo's
    garments (type, box, confidence) each with its k most similar products."""
    if look:
        return look_out(generation, generation.look(generation.photo(image, look=True), k, filters, user))
    served = generation.similar_to_photo(generation.photo(image), k, filters, user)
    record_shown(generation, user, "similar", served)
    return matches_out(generation, served, similar_reason(generation))


Mode = Literal["hybrid", "keywords", "visual"]
MODE_HELP = "hybrid: keywords and the image embeddings fused; keywords; visual: the image embeddings alone"


@router.get("/search", response_model=schemas.SearchOut)
def search_text(generation: GenerationDep, filters: QueryFilters, user: OptionalUserDep,
                q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARACTERS,
                                        description="what the shopper typed: \"black wide-leg trousers under 50\"")],
                k: K = 10, mode: Annotated[Mode, Query(description=MODE_HELP)] = "hybrid"):
    """Products matching a text. Price, gender and size words become filters where the catalog has those fields."""
    found = generation.search(q, None, k, filters, mode, user)
    record_shown(generation, user, "search", found.matches)
    return search_out(generation, found)


@router.post("/search", response_model=schemas.SearchOut, dependencies=[rate_limited("uploads")])
def search_text_and_photo(
    generation: GenerationDep, filters: FormFilters, image: OptionalUpload, user: OptionalUserDep,
    q: Annotated[str, Form(max_length=MAX_QUERY_CHARACTERS, description="the words: \"like this, but in red\"")] = "",
    k: FormK = 10, mode: Annotated[Mode, Form(description=MODE_HELP)] = "hybrid",
):
    """Products matching a text, or a photo (multipart field ``image``) modified by a text: with a photo, colour and
    type words become filters."""
    photo = generation.photo(image) if image else None
    found = generation.search(q, photo, k, filters, mode, user)
    record_shown(generation, user, "search", found.matches)
    return search_out(generation, found)


@router.post("/tags", dependencies=[rate_limited("uploads")])
def tag_photo(
    shop: ShopDep, image: Upload,
    labels: Annotated[str | None, Form(max_length=4000, description="zero-shot: comma-separated labels of your own "
                                                                    "(\"floral,striped,denim\"), each scored")] = None,
) -> schemas.Tags:
    """Predicted attributes (type, colour, gender, usage, season) of an uploaded photo, with confidences; with
    ``labels``, also each of those labels' probability (``zero_shot``), the most likely first."""
    if labels is not None:
        return tags_out(shop.tags(image), shop.zero_shot_tags(image, labels))
    return tags_out(shop.tags(image))
