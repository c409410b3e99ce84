"""The REST API and the web page: a thin FastAPI layer over `dressup.service.Shop`.

``create_app(Settings(store="stores/fpi"))`` builds the app; ``dressup serve`` runs it with uvicorn.
"""


import json
import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from threadpoolctl import threadpool_limits

from .. import __version__
from ..catalog import Item
from ..editing import ItemEditError, ItemExistsError
from ..errors import DressUpError
from ..filters import Filters
from ..outfits import NoOutfitModelError
from ..service import Shop
from ..store import StoreBusyError, UnknownItemError
from ..users import DatabaseError, UnknownUserError, UserExistsError
from . import schemas
from .settings import Settings

STATIC = Path(__file__).parent / "static"
MAX_K = 100
ERRORS = {401: "missing, invalid or revoked token", 404: "unknown item or user", 409: "id already taken, or no outfit model",
          413: "request body too large", 503: "the users database is unavailable (gone, read-only or locked); try again",
          422: "invalid input (unreadable image, bad filter, rating outside 1-5 ...)"}


def create_app(settings: Settings | None = None, shop: Shop | None = None) -> FastAPI:
    """The app for one store; ``settings`` default to the ``DRESSUP_*`` environment variables."""
    settings = settings or Settings()
    owned, shop = shop is None, shop or Shop(settings.store, settings.database_url, max_pixels=settings.max_pixels, watch=True)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if owned:  # a shop handed in is the caller's to close
            shop.close()

    # requests run side by side: a team of BLAS/OpenMP threads per vector search would only fight over the cores
    # (limited once FAISS and NumPy have loaded their thread libraries, which the store has done)
    threadpool_limits(settings.search_threads)
    app = FastAPI(
        title="DressUp",
        version=__version__,
        summary="Similar items, personal feeds, complete outfits and tags for a fashion catalog.",
        max_body_size=settings.max_body_bytes,
        lifespan=lifespan,
        responses={code: {"model": schemas.Problem, "description": text} for code, text in ERRORS.items()},
    )
    app.state.shop, app.state.settings = shop, settings
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])
    _add_error_handlers(app)
    for router in (catalog_routes(), user_routes(), page_routes()):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (one app per worker process)."""
    return create_app()


# -- errors -----------------------------------------------------------------------------------

def _add_error_handlers(app: FastAPI) -> None:
    by_class = [(DatabaseError, 503), (UnknownItemError, 404), (UnknownUserError, 404), (ItemExistsError, 409), (UserExistsError, 409), (NoOutfitModelError, 409), (StoreBusyError, 409),
                (ItemEditError, 422), (DressUpError, 422)]

    async def handle(_request: Request, error: Exception) -> JSONResponse:
        code = next(code for kind, code in by_class if isinstance(error, kind))
        return JSONResponse({"detail": str(error)}, status_code=code)

    for kind, _code in by_class:
        app.add_exception_handler(kind, handle)
    app.add_exception_handler(RequestValidationError, _invalid_request)


async def _invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 list of problems, but one whose input is not JSON (NaN, Infinity, 1e400) is quoted, not a 500."""
    return JSONResponse({"detail": [_json_ready(problem) for problem in jsonable_encoder(error.errors())]}, status_code=422)


def _json_ready(problem: dict) -> dict:
    try:
        json.dumps(problem, allow_nan=False)
        return problem
    except ValueError:
        return {**problem, "input": repr(problem.get("input"))}


# -- dependencies -----------------------------------------------------------------------------

async def get_shop(request: Request) -> Shop:  # async: no thread hop for a lookup
    return request.app.state.shop


ShopDep = Annotated[Shop, Depends(get_shop)]
_bearer = HTTPBearer(auto_error=False, description="the token from POST /users")
_admin_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the server's admin key (catalog writes)")


def current_user(shop: ShopDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if credentials is None:
        raise HTTPException(401, "sign in: send Authorization: Bearer TOKEN (POST /users gives one)", {"WWW-Authenticate": "Bearer"})
    user = shop.user_for_token(credentials.credentials)
    if user is None:
        raise HTTPException(401, "invalid or revoked token", {"WWW-Authenticate": "Bearer"})
    return user


def require_admin(request: Request, key: Annotated[str | None, Depends(_admin_key)]) -> None:
    expected = request.app.state.settings.admin_key
    if expected is None:
        raise HTTPException(403, "catalog writes are disabled on this server (set DRESSUP_ADMIN_KEY)")
    if key is None or not secrets.compare_digest(key.encode(), expected.get_secret_value().encode()):
        raise HTTPException(401, "catalog writes need the admin key in the X-API-Key header")


UserDep = Annotated[str, Depends(current_user)]


async def form_filters(
    category: Annotated[list[str], Form(description="any of these categories")] = [],  # noqa: B006
    gender: Annotated[list[str], Form()] = [],  # noqa: B006
    colour: Annotated[list[str], Form()] = [],  # noqa: B006
    min_price: Annotated[float | None, Form(ge=0, allow_inf_nan=False)] = None,
    max_price: Annotated[float | None, Form(ge=0, allow_inf_nan=False, description="the budget")] = None,
    size: Annotated[str | None, Form(max_length=40)] = None,
    where: Annotated[list[str], Form(description="column=value or column!=value")] = [],  # noqa: B006
) -> Filters | None:
    """The filter fields of a multipart form, beside an uploaded photo."""
    return to_filters(schemas.FilterFields.model_construct(category=category, gender=gender, colour=colour, min_price=min_price,
                                                           max_price=max_price, size=size, where=where))


async def query_filters(fields: Annotated[schemas.FilterQuery, Query()]) -> Filters | None:
    """The filter fields of a query string: ``?category=Shirts&category=Tshirts&max_price=50``."""
    return to_filters(fields)


QueryFilters = Annotated[Filters | None, Depends(query_filters)]
FormFilters = Annotated[Filters | None, Depends(form_filters)]
K = Annotated[int, Query(ge=1, le=MAX_K, description="how many items")]


def to_filters(fields: schemas.FilterFields) -> Filters | None:
    """Core filters from request fields (a ``filters`` object in a body adds to the fields beside it)."""
    nested = getattr(fields, "filters", None)
    parsed = Filters.parse((fields.where or []) + ((nested.where or []) if nested else []))
    where = {k: list(v) for k, v in parsed.where.items()}
    for source in (fields, nested):
        for name in ("category", "gender", "colour"):
            values = getattr(source, name, None) if source is not None else None
            if values:
                where.setdefault(name, []).extend([values] if isinstance(values, str) else values)
    pick = lambda name: getattr(fields, name) if getattr(fields, name) is not None else getattr(nested, name, None)
    filters = Filters(where=where, exclude=parsed.exclude, min_price=pick("min_price"), max_price=pick("max_price"), size=pick("size"))
    return None if filters.is_empty() else filters


async def read_upload(image: Annotated[UploadFile, File(description="a photo (JPEG, PNG, WebP ...)")]) -> bytes:
    data = await image.read()
    if not data:
        raise HTTPException(422, "the uploaded image is empty")
    return data


# -- presenting items -------------------------------------------------------------------------

def item_out(item: Item, score: float | None = None, **extra) -> dict:
    data = item.to_dict()
    del data["image"]
    return {**data, "score": None if score is None else round(score, 6), "image_url": f"/items/{quote(item.id, safe='')}/image", **extra}


def matches_out(shop: Shop, matches) -> Response:
    """Search results as JSON, each item serialised once per store generation (the hot path of a product page)."""
    generation = shop.generation
    serialised = generation.memo.setdefault("item-json", {})  # by id: rows change meaning when the store changes
    parts = []
    for match in matches:
        if match.id not in serialised:
            if match.id not in generation.store:
                continue  # removed since the search ran
            data = item_out(generation.items[generation.store.row(match.id)])
            del data["score"]
            serialised[match.id] = json.dumps(data, separators=(",", ":"), allow_nan=False).encode()[1:]  # without its "{"
        parts.append(b'{"score":%s,%s' % (json.dumps(round(match.score, 6)).encode(), serialised[match.id]))
    return Response(b'{"items":[' + b",".join(parts) + b"]}", media_type="application/json")


def recommendations_out(shop: Shop, recommendations) -> dict:
    return {"items": [item_out(shop.item(r.id), r.score, reason=r.reason) for r in recommendations]}


# -- catalog, search, tags, outfits -----------------------------------------------------------

def catalog_routes():
    router = APIRouter()

    @router.get("/health", tags=["service"])
    async def health(shop: ShopDep) -> schemas.Health:
        store = shop.store
        return schemas.Health(status="ok", items=len(store), generation=store.manifest["generation"],
                              encoder=store.manifest["encoder"]["name"])

    @router.get("/items", tags=["catalog"])
    def list_items(shop: ShopDep, filters: QueryFilters, limit: Annotated[int, Query(ge=1, le=200)] = 24,
                   offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> schemas.ItemPage:
        """Browse the catalog, filtered, in pages."""
        total, items = shop.items(filters, limit, offset)
        return {"items": [item_out(i) for i in items], "total": total, "limit": limit, "offset": offset}

    @router.get("/facets", tags=["catalog"])
    def facets(shop: ShopDep) -> schemas.Facets:
        """Values to offer in filter menus, and the price range."""
        return shop.facets().__dict__

    # {item_id:path}: ids may hold "/" (sent as %2F); the routes with a suffix come before the bare one
    @router.get("/items/{item_id:path}/image", tags=["catalog"], response_class=FileResponse,
                responses={200: {"content": {"image/*": {}}, "description": "the product photo"}})
    def item_image(shop: ShopDep, item_id: str):
        image = shop.item(item_id).image
        if "://" in image:
            return RedirectResponse(image)
        if not image or not Path(image).is_file():
            raise HTTPException(404, f"item {item_id!r} has no image file")
        return FileResponse(image, headers={"Cache-Control": "public, max-age=3600"})

    @router.get("/items/{item_id:path}/similar", tags=["search"], response_model=schemas.ItemList)
    async def similar_items(shop: ShopDep, item_id: str, filters: QueryFilters, k: K = 10):
        """The k products most similar to a catalog product."""
        return matches_out(shop, shop.similar_to_item(item_id, k, filters))

    @router.get("/items/{item_id:path}", tags=["catalog"])
    def get_item(shop: ShopDep, item_id: str) -> schemas.ItemOut:
        return item_out(shop.item(item_id))

    @router.post("/similar", tags=["search"], response_model=schemas.ItemList)
    def similar_to_photo(shop: ShopDep, image: Annotated[bytes, Depends(read_upload)], filters: FormFilters,
                         k: Annotated[int, Form(ge=1, le=MAX_K)] = 10) -> schemas.ItemList:
        """Upload a photo (multipart field ``image``): the k most similar products."""
        return matches_out(shop, shop.similar_to_image(image, k, filters))

    @router.post("/tags", tags=["search"])
    def tag_photo(shop: ShopDep, image: Annotated[bytes, Depends(read_upload)]) -> schemas.Tags:
        """Predicted attributes (type, colour, gender, usage, season) of an uploaded photo, with confidences."""
        return {"tags": {label: {"value": t.value, "confidence": t.confidence} for label, t in shop.tags(image).items()}}

    @router.post("/recommend", tags=["recommendations"])
    def recommend_from_liked(shop: ShopDep, request: schemas.RecommendRequest) -> schemas.ItemList:
        """Recommendations for someone who likes these items, without an account."""
        return recommendations_out(shop, shop.recommend_from_items(request.liked, request.k, to_filters(request)))

    @router.post("/outfits", tags=["outfits"])
    def complete_outfits(shop: ShopDep, request: schemas.OutfitRequest) -> schemas.Outfits:
        """Complete outfits around the items of a cart or wardrobe (filters apply to the added items)."""
        outfits = shop.outfits(request.items, request.n, to_filters(request), request.budget)
        return {"outfits": [
            {"score": o.score, "total_price": o.total_price,
             "items": [item_out(shop.item(i.id), i.score, slot=i.slot, given=i.given) for i in o.items if i.id is not None]}
            for o in outfits]}

    admin = [Depends(require_admin)]

    @router.post("/items", tags=["catalog admin"], status_code=201, dependencies=admin)
    def add_item(shop: ShopDep, image: Annotated[bytes, Depends(read_upload)], fields: Annotated[dict, Depends(item_form)]) -> schemas.ItemOut:
        """Add a product with its photo; it is searchable as soon as this returns."""
        if "id" not in fields:
            raise HTTPException(422, "a new item needs an id")
        return item_out(shop.add_item(fields, image))

    @router.put("/items/{item_id:path}", tags=["catalog admin"], dependencies=admin)
    def update_item(shop: ShopDep, item_id: str, fields: Annotated[dict, Depends(item_form)],
                    image: Annotated[UploadFile | None, File(description="a new photo")] = None) -> schemas.ItemOut:
        """Change the fields given (and the photo, if one is uploaded); other fields keep their values."""
        data = image.file.read() if image is not None else None
        return item_out(shop.update_item(item_id, {k: v for k, v in fields.items() if k != "id"}, data or None))

    @router.delete("/items/{item_id:path}", tags=["catalog admin"], status_code=204, dependencies=admin)
    def delete_item(shop: ShopDep, item_id: str) -> Response:
        shop.remove_item(item_id)
        return Response(status_code=204)

    return router


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


# -- users ------------------------------------------------------------------------------------

def user_routes():
    router = APIRouter(tags=["users"])

    @router.post("/users", status_code=201)
    def register(shop: ShopDep, request: schemas.RegisterRequest | None = None) -> schemas.Registered:
        """Create an account: its id and the token that signs its requests (shown only once)."""
        user, token = shop.register(request.user_id if request else None)
        return {"user_id": user, "token": token}

    @router.post("/users/{user_id:path}/token", tags=["users admin"], dependencies=[Depends(require_admin)])
    def new_token(shop: ShopDep, user_id: str) -> schemas.Registered:
        """A new token for an existing user, such as a customer whose purchases were imported (admin key needed);
        the user's earlier token stops working."""
        return {"user_id": user_id, "token": shop.new_token(user_id)}

    @router.get("/users/me")
    def me(shop: ShopDep, user: UserDep) -> schemas.UserOut:
        return shop.user(user)

    @router.delete("/users/me", status_code=204)
    def forget_me(shop: ShopDep, user: UserDep) -> Response:
        """Delete the account and every event it recorded; the token stops working."""
        shop.forget(user)
        return Response(status_code=204)

    @router.post("/users/me/events", status_code=201)
    def add_event(shop: ShopDep, user: UserDep, event: schemas.EventIn) -> schemas.EventOut:
        """Record a like, dislike, rating (1-5), cart, purchase or view; the feed takes it into account at once."""
        shop.add_event(user, event.item_id, event.type, event.value)
        return {"user_id": user, "item_id": event.item_id, "type": event.type, "value": event.value}

    @router.get("/users/me/recommendations", tags=["recommendations"])
    def my_recommendations(shop: ShopDep, user: UserDep, filters: QueryFilters, k: K = 12) -> schemas.ItemList:
        """The signed-in user's feed: their taste, diversified, with a little exploration."""
        return recommendations_out(shop, shop.recommend(user, k, filters))

    return router


# -- the web page -----------------------------------------------------------------------------

def page_routes():
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def page():
        return FileResponse(STATIC / "index.html")

    return router
