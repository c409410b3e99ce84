"""The Docker files cannot be built here; check that they agree with the code they run."""

from __future__ import annotations

import re

import yaml

from conftest import REPO
from dressup.api import Settings
from dressup.cli import app


def serve_options() -> set[str]:
    import typer.main

    command = typer.main.get_command(app).commands["serve"]
    return {option for parameter in command.params for option in parameter.opts}


def test_the_api_image_runs_serve_with_options_that_exist():
    dockerfile = (REPO / "Dockerfile.api").read_text()
    command = re.search(r'^CMD \[.*"exec dressup serve (.*)"\]$', dockerfile, re.MULTILINE).group(1)
    assert set(re.findall(r"--[a-z-]+", command)) <= serve_options()
    variables = re.findall(r"DRESSUP_([A-Z_]+)=", dockerfile)
    assert "STORE" in variables  # the loop below checks something
    for variable in variables:
        assert variable == "WORKERS" or variable.lower() in Settings.model_fields


def test_compose_wires_the_api_to_postgresql_with_known_settings():
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    api = compose["services"]["api"]
    assert api["build"]["dockerfile"] == "Dockerfile.api" and (REPO / "Dockerfile.api").is_file()
    assert compose["services"]["train"]["build"]["dockerfile"] == "Dockerfile.train" and (REPO / "Dockerfile.train").is_file()
    assert "DRESSUP_DATABASE_URL" in api["environment"]  # the loop below checks something
    for variable in api["environment"]:
        name = variable.removeprefix("DRESSUP_").lower()
        assert name == "workers" or name in Settings.model_fields
    assert api["environment"]["DRESSUP_DATABASE_URL"].startswith("postgresql://dressup:dressup@db:5432/")
    assert compose["services"]["db"]["image"].startswith("postgres")


def test_an_empty_admin_key_leaves_catalog_writes_off(tmp_path):
    assert Settings(store=tmp_path, admin_key="").admin_key is None
    assert Settings(store=tmp_path, admin_key=" ").admin_key is None
    assert Settings(store=tmp_path, admin_key="k").admin_key.get_secret_value() == "k"


def test_settings_come_from_a_file_and_the_environment(tmp_path, monkeypatch):
    settings_file = tmp_path / "dressup.env"
    settings_file.write_text("DRESSUP_MAX_UPLOAD_MB=5\nDRESSUP_ADMIN_KEY=from-file\n")
    monkeypatch.setenv("DRESSUP_SEARCH_THREADS", "2")
    settings = Settings.load(settings_file, store=tmp_path)
    assert settings.max_body_bytes == 5 * 1024 * 1024 and settings.search_threads == 2
    assert settings.admin_key.get_secret_value() == "from-file"
    monkeypatch.setenv("DRESSUP_ADMIN_KEY", "from-environment")  # the environment wins over the file
    assert Settings.load(settings_file, store=tmp_path).admin_key.get_secret_value() == "from-environment"
