"""Request and response bodies of the REST API (pydantic), with the examples shown in the OpenAPI docs."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..catalog import MAX_ID_LENGTH
from ..users import EVENT_KINDS

ItemId = Annotated[str, Field(min_length=1, max_length=128, examples=["15970"])]
Values = list[Annotated[str, Field(max_length=200)]] | Annotated[str, Field(max_length=200)] | None
EventType = Literal[EVENT_KINDS]  # type: ignore[valid-type]


class FilterFields(BaseModel):
    """Which items may come back: values of one field match any of those given, several fields must all match."""

    category: Values = Field(None, examples=[["Shirts", "Tshirts"]])
    gender: Values = Field(None, examples=["Men"])
    colour: Values = Field(None, examples=["Blue"])
    min_price: float | None = Field(None, ge=0, allow_inf_nan=False)
    max_price: float | None = Field(None, ge=0, allow_inf_nan=False, description="the budget: most an item may cost")
    size: str | None = Field(None, max_length=40, examples=["M"])
    where: list[Annotated[str, Field(max_length=300)]] | None = Field(
        None, description="more filters as column=value or column!=value", examples=[["usage=Casual"]])
    include_unavailable: bool | None = Field(None, description="out-of-stock items and sold-out sizes too")


class FilterQuery(BaseModel):
    """The filter fields of a query string: ``?category=Shirts&category=Tshirts&max_price=50``."""

    model_config = ConfigDict(extra="ignore")

    category: list[Annotated[str, Field(max_length=200)]] = Field([], description="any of these categories")
    gender: list[Annotated[str, Field(max_length=200)]] = []
    colour: list[Annotated[str, Field(max_length=200)]] = []
    min_price: float | None = Field(None, ge=0, allow_inf_nan=False)
    max_price: float | None = Field(None, ge=0, allow_inf_nan=False, description="the budget: most an item may cost")
    size: str | None = Field(None, max_length=40)
    where: list[Annotated[str, Field(max_length=300)]] = Field([], description="column=value or column!=value")
    include_unavailable: bool = Field(False, description="out-of-stock items and sold-out sizes too")


class FilteredRequest(FilterFields):
    """A request body with filters, given either beside its other fields or as a ``filters`` object."""

    filters: FilterFields | None = None


class ItemRef(BaseModel):
    id: str
    title: str = ""


class RuleNote(BaseModel):
    action: str
    label: str


class ItemOut(BaseModel):
    id: str
    score: float | None = Field(None, description="similarity or relevance; higher is better")
    title: str = ""
    category: str = ""
    subcategory: str = ""
    colour: str = ""
    gender: str = ""
    price: float | None = None
    sizes: list[str] = []
    brand: str = ""
    in_stock: bool = True
    sold_out_sizes: list[str] = []
    attributes: dict = {}
    image_url: str
    reason: str | None = Field(None, description="why the item is there: \"because you liked X\", \"often worn with Y\", "
                                                 "\"popular in Dresses\", \"looks like X\", \"promoted\"")
    rule: RuleNote | None = Field(None, description="the business rule that placed (pin) or moved (boost, bury) it")
    because: ItemRef | None = Field(None, description="the user's item a recommendation follows from")
    variants: list[str] = Field([], description="in a feed: the same product's other colours, behind this one")


class ItemList(BaseModel):
    items: list[ItemOut]


class GarmentOut(BaseModel):
    type: str = Field(description="coarse product type: tops, trousers, shoes, bags ...")
    box: list[int] = Field(description="[x0, y0, x1, y1] in the uploaded photo's pixels")
    confidence: float = Field(description="the type's mean probability over the garment's region")
    items: list[ItemOut]


class SearchOut(ItemList):
    mode: str = Field(description="the ranking used: hybrid, keywords or visual")
    understood: dict = Field(description="what words of the query became filters: max_price, gender, colour ...")
    preferred: dict = Field(default_factory=dict, description="the colour and category the query names: ranked first")
    searched: str = Field("", description="the words searched, once the filters were taken out")


class Look(BaseModel):
    garments: list[GarmentOut] = Field(description="the photo's garments, the most prominent first; none when it shows none")


class ItemPage(ItemList):
    total: int = Field(description="items that pass the filters")
    limit: int
    offset: int


class Facets(BaseModel):
    values: dict[str, list[str]] = Field(description="values of category, gender, colour ... to offer as filters")
    min_price: float | None
    max_price: float | None
    sizes: list[str] = Field([], description="the sizes items are sold in; empty: the catalog lists none")
    outfits: bool = Field(False, description="whether the store has an outfit model (POST /outfits)")


class TagOut(BaseModel):
    value: str
    confidence: float = Field(ge=0, le=1)


class Tags(BaseModel):
    tags: dict[str, TagOut] = Field(examples=[{"articleType": {"value": "Tshirts", "confidence": 0.93}}])
    zero_shot: list[TagOut] | None = Field(None, description="with labels: each label's probability, most likely first",
                                           examples=[[{"value": "striped", "confidence": 0.61}]])


class RegisterRequest(BaseModel):
    user_id: str | None = Field(None, min_length=1, max_length=MAX_ID_LENGTH,
                                description="an id chosen by the shop (admin key needed: an id of its customers' "
                                            "must not be claimed by someone else); the server chooses one when left out")


class Registered(BaseModel):
    user_id: str
    token: str = Field(description="send it as `Authorization: Bearer TOKEN`; it is shown only once")
    expires_at: datetime = Field(description="when the token stops working (UTC); POST /users/me/token gives a new one")


class EventIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"item_id": "15970", "type": "like"},
                                                              {"item_id": "15970", "type": "rating", "value": 5}]})

    item_id: ItemId
    type: EventType
    value: float | None = Field(None, allow_inf_nan=False, description="1-5 for a rating, the price paid for a purchase")

    @model_validator(mode="after")
    def _rating_has_value(self) -> EventIn:
        if self.type == "rating" and (self.value is None or not 1 <= self.value <= 5):
            raise ValueError("a rating needs a value from 1 to 5")
        if self.type == "purchase" and self.value is not None and (self.value < 0 or math.isinf(self.value)):
            raise ValueError("a purchase's value is the price paid: a number of at least 0")
        return self


class ClickIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"item_id": "15970", "surface": "feed"}]})

    item_id: ItemId
    surface: Literal["similar", "feed", "search", "outfits"] = Field(description="where the item was shown")


class ClickOut(BaseModel):
    experiments: int = Field(description="how many running experiments counted the click")


class RulesBody(BaseModel):
    """Business rules (see `dressup.merchandising`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"rules": [
        {"action": "boost", "when": ["brand=Mango"], "positions": 3, "surfaces": ["feed", "search"]},
        {"action": "pin", "item": "15970", "slot": 1, "surfaces": ["feed"]},
        {"action": "hide", "when": ["category=Socks"]}]}]})

    rules: list[dict] = Field(max_length=200)


class ExperimentsBody(BaseModel):
    """Running experiments (see `dressup.experiments`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"experiments": [{"name": "boost-new", "surfaces": ["feed"],
        "variants": [{"name": "control"}, {"name": "boosted", "rules": [
            {"action": "boost", "when": ["new=yes"], "positions": 4}]}]}]}]})

    experiments: list[dict] = Field(max_length=20)


class ExperimentReport(BaseModel):
    experiment: str
    variants: list[dict] = Field(description="per variant: users, impressions, clicks, and click-through, add-to-cart "
                                             "and purchase with their 95% interval (\"purchase low\", \"purchase high\")")


class EventOut(BaseModel):
    user_id: str
    item_id: str
    type: str
    value: float | None


class UserOut(BaseModel):
    user_id: str
    created_at: datetime
    events: dict[str, int] = Field(description="number of events of each type")
    liked: list[str] = Field(default_factory=list, description="the items the user likes now (the page fills their hearts)")


class RecommendRequest(FilteredRequest):
    model_config = ConfigDict(json_schema_extra={"examples": [{"liked": ["15970", "39386"], "k": 12, "max_price": 60}]})

    liked: list[ItemId] = Field(default_factory=list, max_length=200,
                                description="items the visitor likes; none: a new visitor's feed (popular, diversified)")
    k: int = Field(12, ge=1, le=100)


class OutfitRequest(FilteredRequest):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": ["41085800-02"], "n": 3}]})

    items: list[ItemId] = Field(min_length=1, max_length=20, description="the cart or wardrobe to build outfits around")
    n: int = Field(3, ge=1, le=20)
    budget: float | None = Field(None, gt=0, allow_inf_nan=False, description="most the whole outfit may cost")


class OutfitItemOut(ItemOut):
    slot: str
    given: bool = Field(description="true for the items you gave, false for the ones added")
    replaces: str | None = Field(None, description="in a stylists' outfit: the stylists' item, unavailable, that this "
                                                   "one stands in for")


class OutfitOut(BaseModel):
    source: Literal["stylist", "generated"] = Field(description="stylist: composed by the shop's stylists around an "
                                                                "item you gave (offered first); generated: by the model")
    look: str | None = Field(None, description="the stylists' outfit id")
    score: float
    total_price: float | None
    items: list[OutfitItemOut]


class Outfits(BaseModel):
    outfits: list[OutfitOut]


class Health(BaseModel):
    status: Literal["ok"]
    items: int
    generation: str
    encoder: str


class Problem(BaseModel):
    detail: str
