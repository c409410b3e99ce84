"""What the routes depend on: the shop and the request's store generation, the signed-in user, the admin key,
filters from a query string or a form, and an uploaded photo."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, File, Form, HTTPException, Path, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ..shop import Generation, Shop
from ..store import Filters
from . import schemas
from .paths import item_id_of

MAX_K = 100


async def get_shop(request: Request) -> Shop:  # async: no thread hop for a lookup
    shop = request.app.state.shop
    if shop is None:  # the store could not be opened: say why (it is tried again every few seconds)
        raise HTTPException(503, request.app.state.unavailable, {"Retry-After": "5"})
    return shop


ShopDep = Annotated[Shop, Depends(get_shop)]


async def current_generation(shop: ShopDep) -> Generation:
    """The store generation a request reads from, taken once (FastAPI hands every user of it in one request the same)."""
    return shop.generation


GenerationDep = Annotated[Generation, Depends(current_generation)]


async def path_item_id(item_id: Annotated[str, Path(description='an item id, percent-encoded ("AB/12" as AB%2F12)')]) -> str:
    return item_id_of(item_id)


ItemId = Annotated[str, Depends(path_item_id)]

_bearer = HTTPBearer(auto_error=False, description="the token from POST /users")
_admin_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the server's admin key (catalog writes)")


def current_user(shop: ShopDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    if credentials is None:
        raise HTTPException(401, "sign in: send Authorization: Bearer TOKEN (POST /users gives one)",
                            {"WWW-Authenticate": "Bearer"})
    user = shop.user_for_token(credentials.credentials)
    if user is None:
        raise HTTPException(401, "invalid or revoked token", {"WWW-Authenticate": "Bearer"})
    return user


UserDep = Annotated[str, Depends(current_user)]


def optional_user(shop: ShopDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str | None:
    """The signed-in user when a valid token is sent (for experiments), None otherwise: a stale token never breaks a
    page anyone may see."""
    return None if credentials is None else shop.user_for_token(credentials.credentials)


OptionalUserDep = Annotated[str | None, Depends(optional_user)]


def _in_experiment(user: str | None, served) -> bool:
    return user is not None and bool(getattr(served, "assigned", None))


def record_shown(generation: Generation, user: str | None, surface: str, served, ids=None) -> None:
    """Record, for a signed-in user in running experiments, the items a surface showed them (impressions): those of
    ``served``, or ``ids``."""
    if _in_experiment(user, served):
        shown_ids = [entry.id for entry in served] if ids is None else ids
        generation.capabilities.shop.record_impressions(user, surface, served, shown_ids)


async def shown(generation: Generation, user: str | None, surface: str, served) -> None:
    """`record_shown` from an async route: a database write only when an experiment runs, off the event loop."""
    if _in_experiment(user, served):
        await run_in_threadpool(record_shown, generation, user, surface, served)


def require_admin(request: Request, key: Annotated[str | None, Depends(_admin_key)]) -> None:
    expected = request.app.state.settings.admin_key
    if expected is None:
        raise HTTPException(403, "admin calls (catalog writes, chosen user ids) are disabled on this server "
                                 "(set DRESSUP_ADMIN_KEY)")
    if key is None or not secrets.compare_digest(key.encode(), expected.get_secret_value().encode()):
        raise HTTPException(401, "this call needs the admin key in the X-API-Key header")


ADMIN = [Depends(require_admin)]
AdminKey = Annotated[str | None, Depends(_admin_key)]


def to_filters(fields: schemas.FilterFields) -> Filters | None:
    """Core filters from request fields (a ``filters`` object in a body adds to the fields beside it)."""
    nested = getattr(fields, "filters", None)
    sources = [fields] + ([nested] if nested is not None else [])

    def values(name: str) -> list[str]:
        found = [getattr(source, name) for source in sources if getattr(source, name)]
        return [value for part in found for value in ([part] if isinstance(part, str) else part)]

    def first(name: str):
        return next((getattr(source, name) for source in sources if getattr(source, name) is not None), None)

    filters = Filters.from_fields(values("where"), category=values("category"), gender=values("gender"), colour=values("colour"),
                                  min_price=first("min_price"), max_price=first("max_price"), size=first("size"),
                                  include_unavailable=bool(first("include_unavailable")))
    return None if filters.is_empty() and not filters.include_unavailable else filters


async def form_filters(
    category: Annotated[list[str], Form(description="any of these categories")] = [],  # noqa: B006
    gender: Annotated[list[str], Form()] = [],  # noqa: B006
    colour: Annotated[list[str], Form()] = [],  # noqa: B006
    min_price: Annotated[float | None, Form(ge=0, allow_inf_nan=False)] = None,
    max_price: Annotated[float | None, Form(ge=0, allow_inf_nan=False, description="the budget")] = None,
    size: Annotated[str | None, Form(max_length=40)] = None,
    where: Annotated[list[str], Form(description="column=value or column!=value")] = [],  # noqa: B006
    include_unavailable: Annotated[bool, Form(description="out-of-stock items and sold-out sizes too")] = False,
) -> Filters | None:
    """The filter fields of a multipart form, beside an uploaded photo."""
    return to_filters(schemas.FilterFields.model_construct(category=category, gender=gender, colour=colour, min_price=min_price,
                                                           max_price=max_price, size=size, where=where,
                                                           include_unavailable=include_unavailable))


async def query_filters(fields: Annotated[schemas.FilterQuery, Query()]) -> Filters | None:
    """The filter fields of a query string: ``?category=Shirts&category=Tshirts&max_price=50``."""
    return to_filters(fields)


QueryFilters = Annotated[Filters | None, Depends(query_filters)]
FormFilters = Annotated[Filters | None, Depends(form_filters)]
K = Annotated[int, Query(ge=1, le=MAX_K, description="how many items")]
FormK = Annotated[int, Form(ge=1, le=MAX_K)]


async def read_upload(image: Annotated[UploadFile, File(description="a photo (JPEG, PNG, WebP ...)")]) -> bytes:
    data = await image.read()
    if not data:
        raise HTTPException(422, "the uploaded image is empty")
    return data


Upload = Annotated[bytes, Depends(read_upload)]


async def read_optional_upload(
    image: Annotated[UploadFile | None, File(description="an optional photo (JPEG, PNG, WebP ...)")] = None,
) -> bytes | None:
    data = await image.read() if image is not None else b""
    return data or None


OptionalUpload = Annotated[bytes | None, Depends(read_optional_upload)]
