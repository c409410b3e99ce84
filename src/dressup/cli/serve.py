"""``dressup serve``: the REST API and the web page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import DressUpError
from .common import DatabaseOption, StoreOption, errors, user_errors


def serve(
    store: StoreOption,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (about one per CPU core).")] = 1,
    database: DatabaseOption = None,
    admin_key: Annotated[str | None, typer.Option(envvar="DRESSUP_ADMIN_KEY", help="API key that allows catalog writes.")] = None,
    settings_file: Annotated[Path | None, typer.Option("--settings", help="File of DRESSUP_NAME=value lines.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
):
    """Serve the REST API and the web page (open http://HOST:PORT/; API docs at /docs)."""
    import os

    import uvicorn
    from pydantic import ValidationError

    from ..api import Settings, create_app
    from ..api.server import PROTOCOL, RequestDeadline
    from ..store import Store

    with user_errors():
        try:
            settings = Settings.load(settings_file, store=store, database_url=database, admin_key=admin_key)
        except ValidationError as error:
            raise DressUpError(f"bad server settings: {error}") from None
        Store.open(settings.store)  # a missing or damaged store fails here, with its reason
        os.environ.update(settings.to_environment())
        errors.print(f"serving {settings.store} on http://{host}:{port}/ (API docs: /docs)")
        RequestDeadline.request_timeout = settings.request_timeout
        if workers == 1:
            uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, http=PROTOCOL)
        else:  # each worker process builds its own app from the environment set above
            uvicorn.run("dressup.api:app_from_environment", factory=True, host=host, port=port, workers=workers,
                        log_level=log_level, http=PROTOCOL)


COMMANDS = [serve]
