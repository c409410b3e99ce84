"""Every registered catalog layout (`dressup.catalog.LAYOUTS`) keeps the `CatalogLayout` contract.

A new layout adds a sample here: a small catalog folder of its kind, cut from real data."""

from pathlib import Path

import pandas as pd
import pytest

from conftest import FPI, HM, MANGO, fpi_table
from dressup.catalog import ATTRIBUTE_PREFIX, ITEM_FIELDS, LAYOUTS, CatalogSource, detect_layout, layout_of_items, read_items


def _first_rows(dataset: Path, table: str, rows: int = 20):
    def make(folder: Path) -> Path:
        pd.read_csv(dataset / table, dtype=str).head(rows).to_csv(folder / table, index=False)
        (folder / "images").symlink_to(dataset / "images")
        return folder
    return make


def _mango(folder: Path) -> Path:
    products = pd.read_csv(MANGO / "products.csv", dtype=str).head(20)
    products["des_filename"] = [str(MANGO / f) for f in products["des_filename"]]
    products.to_csv(folder / "products.csv", index=False)
    return folder


def _generic(folder: Path) -> Path:
    fpi_table(pd.read_csv(FPI / "styles.csv"), 20).rename(columns={"articleType": "category"}).to_csv(folder / "shop.csv",
                                                                                                      index=False)
    return folder


SAMPLES = {"fashion-product-images": _first_rows(FPI, "styles.csv"), "hm": _first_rows(HM, "articles.csv"), "mango": _mango,
           "generic": _generic}


@pytest.fixture(params=list(LAYOUTS))
def sample(request, tmp_path):
    assert request.param in SAMPLES, f"layout {request.param!r} has no sample in the contract suite"
    return LAYOUTS[request.param], SAMPLES[request.param](tmp_path)


def test_a_catalog_is_recognised_by_its_columns_not_its_file_name(sample, tmp_path):
    layout, folder = sample
    found, table = detect_layout(CatalogSource(folder))
    assert found is layout
    renamed = table.rename(table.with_name("catalog-export.csv"))
    assert detect_layout(CatalogSource(folder))[0] is layout
    assert detect_layout(CatalogSource(renamed))[0] is layout


def test_it_reads_the_item_schema(sample):
    layout, folder = sample
    chosen, items = read_items(CatalogSource(folder))
    assert chosen is layout and len(items) == 20
    assert list(items.columns[: len(ITEM_FIELDS)]) == list(ITEM_FIELDS)
    assert all(c.startswith(ATTRIBUTE_PREFIX) for c in items.columns[len(ITEM_FIELDS):])
    assert items["id"].is_unique and (items["id"].str.len() > 0).all()
    assert all(Path(image).is_absolute() and Path(image).is_file() for image in items["image"])
    assert (items["category"] != "").all()


def test_the_columns_it_names_for_roles_are_in_its_items(sample):
    layout, folder = sample
    _, items = read_items(CatalogSource(folder))
    for role in layout.roles:
        for column in [layout.role_column(role)] if isinstance(layout.roles[role], str) else layout.role_columns(role):
            assert column in items.columns, (role, column)


def test_a_store_of_its_items_knows_its_layout_again(sample):
    layout, folder = sample
    _, items = read_items(CatalogSource(folder))
    assert layout_of_items(items.columns) is layout
    assert layout_of_items(items.columns, layout.name) is layout
