"""Server settings, read from ``DRESSUP_*`` environment variables and optionally a settings file."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1024 * 1024


class Settings(BaseSettings):
    """``DRESSUP_STORE=stores/fpi DRESSUP_ADMIN_KEY=... dressup serve``; a file of ``NAME=value`` lines works too."""

    model_config = SettingsConfigDict(env_prefix="DRESSUP_", extra="ignore")

    store: Path = Field(description="the store to serve (made by `dressup index`)")
    database_url: str | None = Field(None, description="users and events database; STORE/users.sqlite when unset")
    admin_key: SecretStr | None = Field(None, description="API key for catalog writes (X-API-Key); writes are off when unset")
    max_upload_mb: float = Field(10, gt=0, description="largest request body, photos included")
    max_pixels: int = Field(40_000_000, gt=0, description="largest photo accepted, in pixels (decompression bombs)")
    search_threads: int = Field(1, ge=1, description="threads per vector search; 1 serves many requests at once best")
    compact_after: int = Field(5_000, ge=1, description="catalog edits after which the journal is folded into a new base")
    token_days: float = Field(90, gt=0, description="days a user's access token works (POST /users/me/token renews it)")
    upload_rate: str = Field("120/minute", description="photo uploads (search, tags, catalog photos) per client address")
    outfit_rate: str = Field("120/minute", description="outfit completions per client address")
    request_timeout: float = Field(30, gt=0, description="seconds a client has to send a whole request (slow clients)")
    cors_origins: list[str] = Field(default_factory=list, description="other sites whose pages may call the API")

    @field_validator("admin_key", "database_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value):
        """An empty variable (``DRESSUP_ADMIN_KEY=``) means unset: an empty admin key would open catalog writes to all."""
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_upload_mb * MB)

    def to_environment(self) -> dict[str, str]:
        """These settings as ``DRESSUP_*`` variables, for server processes that build their app from the environment."""
        variables = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            variables[f"DRESSUP_{name.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
        return variables

    @classmethod
    def load(cls, settings_file: str | Path | None = None, **values) -> Settings:
        """Settings from ``values``, then the environment, then ``settings_file``."""
        return cls(_env_file=settings_file, **{k: v for k, v in values.items() if v is not None})
