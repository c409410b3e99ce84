"""Catalog writes (admin key needed): add, change and remove products; each is searchable when the call returns."""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Path, Response, UploadFile

from .. import schemas
from ..deps import ADMIN, ItemId, ShopDep, Upload
from ..present import item_out

router = APIRouter(tags=["catalog admin"], dependencies=ADMIN)


def item_form(
    id: Annotated[str | None, Form(min_length=1, max_length=128)] = None,
    title: Annotated[str | None, Form(max_length=500)] = None,
    category: Annotated[str | None, Form(max_length=200)] = None,
    subcategory: Annotated[str | None, Form(max_length=200)] = None,
    colour: Annotated[str | None, Form(max_length=200)] = None,
    gender: Annotated[str | None, Form(max_length=200)] = None,
    price: Annotated[float | None, Form(ge=0, allow_inf_nan=False)] = None,
    sizes: Annotated[str | None, Form(max_length=500, description="S|M|L")] = None,
    brand: Annotated[str | None, Form(max_length=200)] = None,
    in_stock: Annotated[bool | None, Form(description="whether it can be bought now")] = None,
    sold_out_sizes: Annotated[str | None, Form(max_length=500, description="sizes out of stock, S|M")] = None,
    attributes: Annotated[str | None, Form(max_length=20_000, description='a JSON object, e.g. {"usage": "Casual"}')] = None,
) -> dict:
    """An item's fields from a multipart form: only those sent."""
    fields = {k: v for k, v in locals().items() if v is not None and k != "attributes"}
    if attributes is not None:
        try:
            fields["attributes"] = json.loads(attributes)
        except json.JSONDecodeError:
            raise HTTPException(422, "attributes must be a JSON object") from None
    return fields


ItemFields = Annotated[dict, Depends(item_form)]


@router.post("/items", status_code=201)
def add_item(shop: ShopDep, image: Upload, fields: ItemFields) -> schemas.ItemOut:
    """Add a product with its photo; it is searchable as soon as this returns."""
    if "id" not in fields:
        raise HTTPException(422, "a new item needs an id")
    return item_out(shop.add_item(fields, image))


@router.put("/items/{item_id}")
def update_item(shop: ShopDep, item_id: ItemId, fields: ItemFields,
                image: Annotated[UploadFile | None, File(description="a new photo")] = None) -> schemas.ItemOut:
    """Change the fields given (and the photo, if one is uploaded); other fields keep their values."""
    data = image.file.read() if image is not None else None
    return item_out(shop.update_item(item_id, {k: v for k, v in fields.items() if k != "id"}, data or None))


@router.delete("/items/{item_id}", status_code=204)
def delete_item(shop: ShopDep, item_id: ItemId) -> Response:
    shop.remove_item(item_id)
    return Response(status_code=204)


@router.get("/admin/rules", tags=["merchandising"])
def get_rules(shop: ShopDep) -> schemas.RulesBody:
    """The store's business rules: boost, bury, pin and hide, per surface, applied after ranking."""
    return shop.merchandising()[0].to_json()


@router.put("/admin/rules", tags=["merchandising"])
def put_rules(shop: ShopDep, body: schemas.RulesBody) -> schemas.RulesBody:
    """Replace the business rules (checked first: a bad rule is a 422 and changes nothing). Every worker serves them
    within a second."""
    return shop.set_rules(body.model_dump()).to_json()


@router.get("/admin/experiments", tags=["merchandising"])
def get_experiments(shop: ShopDep) -> schemas.ExperimentsBody:
    """The running experiments: users split between variants of the rules by a stable hash."""
    return shop.merchandising()[1].to_json()


@router.put("/admin/experiments", tags=["merchandising"])
def put_experiments(shop: ShopDep, body: schemas.ExperimentsBody) -> schemas.ExperimentsBody:
    """Replace the running experiments (checked first). An empty list stops them; their exposures stay."""
    return shop.set_experiments(body.model_dump()).to_json()


@router.get("/admin/experiments/{name}/report", tags=["merchandising"])
def experiment_report(shop: ShopDep, name: Annotated[str, Path(max_length=64)]) -> schemas.ExperimentReport:
    """Click-through, add-to-cart and purchase rates per variant with 95% intervals (bootstrap over users)."""
    from ...experiments import report_records

    table = shop.experiment_report(name)
    if table is None:
        raise HTTPException(404, f"experiment {name!r} has recorded no impressions")
    return {"experiment": name, "variants": report_records(table)}
