"""The REST API and the web page: a thin FastAPI layer over `dressup.shop.Shop`.

``create_app(Settings(store="stores/fpi"))`` builds the app; ``dressup serve`` runs it with uvicorn. The routes
live in `routes`, one module per resource; what they depend on in `deps`; how results look in `present`.
"""

import asyncio
import json
import logging
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from threadpoolctl import threadpool_limits

from ..errors import DressUpError
from ..files import DiskFullError
from ..looks import NoGarmentTypesError
from ..outfits import NoOutfitModelError
from ..shop import Shop
from ..store import DamagedStoreError, StoreBusyError, StoreError, UnknownItemError
from ..store.editing import ItemEditError, ItemExistsError
from ..users import DatabaseError, UnknownUserError, UserExistsError
from ..version import __version__
from . import schemas
from .paths import ItemIdsAsSent
from .protection import RateLimits, SecurityHeaders
from .routes import ROUTERS
from .routes.page import STATIC
from .server import RequestDeadline
from .settings import Settings

REOPEN_EVERY = 3.0  # seconds between tries to open a store that could not be opened

ERRORS = {401: "missing, invalid or revoked token", 404: "unknown item or user",
          409: "id already taken, or the store has no outfit model (or, for look, no garment types)",
          413: "request body too large",
          429: "too many uploads or outfits from this client; Retry-After says when to come back",
          507: "no space left on the server's disk: nothing was changed",
          503: "the store or the users database is unavailable (damaged, gone, read-only or locked); the reason says why",
          422: "invalid input (unreadable image, bad filter, rating outside 1-5 ...)"}
# the status of each DressUp error, the most specific first
STATUS = [(DiskFullError, 507), (DatabaseError, 503), (DamagedStoreError, 503), (UnknownItemError, 404), (UnknownUserError, 404),
          (ItemExistsError, 409), (UserExistsError, 409), (NoOutfitModelError, 409), (NoGarmentTypesError, 409),
          (StoreBusyError, 409),
          (ItemEditError, 422), (DressUpError, 422)]


def open_shop(settings: Settings) -> Shop:
    # watched four times a second: other workers' catalog edits are served within a second
    return Shop(settings.store, settings.database_url, max_pixels=settings.max_pixels, watch=True, check_every=0.25,
                compact_after=settings.compact_after, token_lifetime=timedelta(days=settings.token_days))


def create_app(settings: Settings | None = None, shop: Shop | None = None) -> FastAPI:
    """The app for one store; ``settings`` default to the ``DRESSUP_*`` environment variables.

    A store that cannot be opened (missing or damaged) does not stop the server: every call that needs it answers 503
    with the reason, and the store is tried again every few seconds, so that a repaired store is served without a
    restart."""
    settings = settings or Settings()
    owned, unavailable = shop is None, None
    if shop is None:
        try:
            shop = open_shop(settings)
        except (StoreError, DatabaseError) as error:
            unavailable = str(error)
            logging.getLogger(__name__).error("the store cannot be served: %s", error)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        retry = asyncio.create_task(_open_when_repaired(app, settings)) if app.state.shop is None else None
        yield
        if retry is not None:
            retry.cancel()
        if owned and app.state.shop is not None:  # a shop handed in is the caller's to close
            app.state.shop.close()

    # requests run side by side: a team of BLAS/OpenMP threads per vector search would only fight over the cores
    # (limited once FAISS and NumPy have loaded their thread libraries, which the store has done)
    threadpool_limits(settings.search_threads)
    app = FastAPIOffline(  # a FastAPI app whose /docs and /redoc load their assets from this server, not a CDN
        title="DressUp",
        version=__version__,
        summary="Similar items, personal feeds, complete outfits and tags for a fashion catalog.",
        max_body_size=settings.max_body_bytes,
        lifespan=lifespan,
        responses={code: {"model": schemas.Problem, "description": text} for code, text in ERRORS.items()},
    )
    app.state.shop, app.state.settings, app.state.unavailable = shop, settings, unavailable
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])
    app.state.rate_limits = RateLimits({"uploads": settings.upload_rate, "outfits": settings.outfit_rate})
    app.add_middleware(ItemIdsAsSent)
    app.add_middleware(SecurityHeaders)
    _add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


async def _open_when_repaired(app: FastAPI, settings: Settings) -> None:
    while app.state.shop is None:
        await asyncio.sleep(REOPEN_EVERY)
        try:
            app.state.shop = await run_in_threadpool(open_shop, settings)
            app.state.unavailable = None
            logging.getLogger(__name__).warning("the store opened: serving %s", settings.store)
        except (StoreError, DatabaseError) as error:
            app.state.unavailable = str(error)


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (one app per worker process)."""
    settings = Settings()
    RequestDeadline.request_timeout = settings.request_timeout  # this worker's server protocol reads it
    return create_app(settings)


def _add_error_handlers(app: FastAPI) -> None:
    async def handle(_request: Request, error: Exception) -> JSONResponse:
        code = next(code for kind, code in STATUS if isinstance(error, kind))
        return JSONResponse({"detail": str(error)}, status_code=code)

    for kind, _code in STATUS:
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
