"""The REST API and web page over a store (FastAPI): ``dressup serve --store STORE``."""

from .app import app_from_environment, create_app
from .settings import Settings

__all__ = ["Settings", "app_from_environment", "create_app"]
