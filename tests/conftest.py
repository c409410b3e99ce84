"""Shared fixtures: the real datasets in ../shared/data and small catalogs cut from them."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DRESSUP_DATA", REPO.parent / "shared" / "data"))
FPI = DATA / "fashion-product-images"
HM = DATA / "hm-sample"
MANGO = DATA / "mango-outfits"


def pytest_configure(config):
    if not FPI.is_dir():
        raise pytest.UsageError(f"the real datasets are expected in {DATA} (set DRESSUP_DATA to move them)")


@pytest.fixture(scope="session")
def encoder():
    from dressup import create_encoder

    return create_encoder("mobilenetv2-imagenet")


@pytest.fixture(scope="session")
def styles() -> pd.DataFrame:
    return pd.read_csv(FPI / "styles.csv")


def fpi_table(styles: pd.DataFrame, rows: int, start: int = 0) -> pd.DataFrame:
    """A generic catalog table of real Fashion Product Images rows, with made-up prices and sizes."""
    table = styles.iloc[start : start + rows].copy()
    table["image"] = [str(FPI / "images" / f"{i}.jpg") for i in table["id"]]
    table["price"] = [10 + (i % 90) for i in table["id"]]
    table["sizes"] = ["S|M|L" if i % 2 else "M|XL" for i in table["id"]]
    return table


@pytest.fixture
def small_catalog(tmp_path, styles) -> Path:
    """120 real products as a generic CSV."""
    path = tmp_path / "catalog.csv"
    fpi_table(styles, 120).to_csv(path, index=False)
    return path


@pytest.fixture
def small_store(tmp_path, small_catalog, encoder):
    from dressup import Store, index_catalog

    store_path = tmp_path / "store"
    index_catalog(small_catalog, store_path, encoder=encoder)
    return Store.open(store_path)
