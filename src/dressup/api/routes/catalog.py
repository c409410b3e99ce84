"""Browsing the catalog: the service's health, pages of items, filter values, one item and its photo."""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, RedirectResponse

from .. import schemas
from ..deps import GenerationDep, ItemId, QueryFilters
from ..present import item_out

router = APIRouter(tags=["catalog"])


@router.get("/health", tags=["service"])
async def health(generation: GenerationDep) -> schemas.Health:
    store = generation.store
    return schemas.Health(status="ok", items=len(store), generation=generation.name, encoder=store.manifest["encoder"]["name"])


@router.get("/items")
def list_items(generation: GenerationDep, filters: QueryFilters, limit: Annotated[int, Query(ge=1, le=200)] = 24,
               offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> schemas.ItemPage:
    """Browse the catalog, filtered, in pages."""
    total, items = generation.page(filters, limit, offset)
    return {"items": [item_out(i) for i in items], "total": total, "limit": limit, "offset": offset}


@router.get("/facets")
def facets(generation: GenerationDep) -> schemas.Facets:
    """Values to offer in filter menus, and the price range."""
    return generation.facets().__dict__


# {item_id}: one path segment; ids holding "/" come as %2F and stay whole (`..paths.ItemIdsAsSent`)
@router.get("/items/{item_id}/image", response_class=FileResponse,
            responses={200: {"content": {"image/*": {}}, "description": "the product photo"}})
def item_image(generation: GenerationDep, item_id: ItemId):
    image = generation.item(item_id).image
    if "://" in image:
        return RedirectResponse(image)
    if not image or not Path(image).is_file():
        raise HTTPException(404, f"item {item_id!r} has no image file")
    return FileResponse(image, headers={"Cache-Control": "public, max-age=3600"})


@router.get("/items/{item_id}")
def get_item(generation: GenerationDep, item_id: ItemId) -> schemas.ItemOut:
    return item_out(generation.item(item_id))
