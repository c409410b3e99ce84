"""The REST API and the web page: a thin FastAPI layer over `dressup.shop.Shop`.

``create_app(Settings(store="stores/fpi"))`` builds the app; ``dressup serve`` runs it with uvicorn. The routes
live in `routes`, one module per resource; what they depend on in `deps`; how results look in `present`.
"""

import json
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from threadpoolctl import threadpool_limits

from ..errors import DressUpError
from ..outfits import NoOutfitModelError
from ..shop import Shop
from ..store import StoreBusyError, UnknownItemError
from ..store.editing import ItemEditError, ItemExistsError
from ..users import DatabaseError, UnknownUserError, UserExistsError
from ..version import __version__
from . import schemas
from .paths import ItemIdsAsSent
from .routes import ROUTERS
from .routes.page import STATIC
from .settings import Settings

ERRORS = {401: "missing, invalid or revoked token", 404: "unknown item or user", 409: "id already taken, or no outfit model",
          413: "request body too large", 503: "the users database is unavailable (gone, read-only or locked); try again",
          422: "invalid input (unreadable image, bad filter, rating outside 1-5 ...)"}
# the status of each DressUp error, the most specific first
STATUS = [(DatabaseError, 503), (UnknownItemError, 404), (UnknownUserError, 404), (ItemExistsError, 409), (UserExistsError, 409),
          (NoOutfitModelError, 409), (StoreBusyError, 409), (ItemEditError, 422), (DressUpError, 422)]


def create_app(settings: Settings | None = None, shop: Shop | None = None) -> FastAPI:
    """The app for one store; ``settings`` default to the ``DRESSUP_*`` environment variables."""
    settings = settings or Settings()
    owned = shop is None
    # watched four times a second: other workers' catalog edits are served within a second
    shop = shop or Shop(settings.store, settings.database_url, max_pixels=settings.max_pixels, watch=True, check_every=0.25,
                        compact_after=settings.compact_after, token_lifetime=timedelta(days=settings.token_days))

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
    app.add_middleware(ItemIdsAsSent)
    _add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_from_environment() -> FastAPI:
    """Factory for ``uvicorn --factory`` (one app per worker process)."""
    return create_app()


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
