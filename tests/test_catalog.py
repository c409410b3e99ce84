import math
from pathlib import Path

import pandas as pd
import pytest

from conftest import FPI, HM, MANGO
from dressup.catalog import CatalogError, CatalogSource, Item, detect_layout, read_catalog


def layout_of(path, **options):
    layout, table = detect_layout(CatalogSource(Path(path), **options))
    return layout.name, table


def test_detects_the_three_real_layouts_by_their_columns():
    assert layout_of(FPI) == ("fashion-product-images", FPI / "styles.csv")
    assert layout_of(HM) == ("hm", HM / "articles.csv")
    assert layout_of(MANGO) == ("mango", MANGO / "products.csv")
    assert layout_of(HM / "articles.csv") == ("hm", HM / "articles.csv")


def test_fashion_product_images_rows():
    items = read_catalog(FPI).set_index("id")
    assert len(items) == 9261
    skirt = items.loc["10000"]
    assert (skirt.category, skirt.subcategory, skirt.colour, skirt.gender) == ("Skirts", "Bottomwear", "White", "Women")
    assert skirt.title == "Palm Tree Girls Sp Jace Sko White Skirts"
    assert skirt.brand == "Palm"
    assert Path(skirt.image).is_file()
    assert skirt["attr:usage"] == "Casual"


def test_hm_rows_keep_leading_zeros_and_take_prices_from_transactions():
    items = read_catalog(HM).set_index("id")
    assert len(items) == 11800
    stockings = items.loc["0111565001"]
    assert stockings.category == "Underwear Tights"
    assert stockings.colour == "Black"
    assert stockings.gender == "Women"
    assert stockings.brand == "H&M"
    assert Path(stockings.image).is_file()
    sales = pd.read_csv(HM / "transactions.csv", dtype={"article_id": str})
    expected = sales.loc[sales.article_id == "0111565001", "price"].median()
    assert stockings.price == pytest.approx(expected)
    assert items["price"].notna().sum() > 1000


def test_mango_rows():
    items = read_catalog(MANGO).set_index("id")
    assert len(items) == 9222
    trousers = items.loc["41085800-02"]
    assert (trousers.category, trousers.colour, trousers.gender) == ("Trousers", "Off White", "Women")
    assert trousers.title == "Off White Trousers"
    # colours from Mango's own names, not its groups (which file black under GREY and gold under WHITE)
    assert items.loc["57040164-99", "colour"] == "Black" and items.loc["57050037-OR", "colour"] == "Gold"
    assert items.loc["57040164-99", "attr:des_agrup_color_eng"] == "GREY"  # the group stays an attribute
    assert (items["colour"] == "Black").sum() > 2000
    assert trousers.image.endswith("images/2019_41085800_02.jpg") and Path(trousers.image).is_file()


def test_generic_table_with_named_columns(tmp_path):
    table = pd.DataFrame({
        "sku": ["a1", "b2"], "picture": ["img/a.jpg", "/abs/b.jpg"], "cost": ["12.5", "oops"],
        "kind": ["Shirts", "Jeans"], "sizes": ["S, M", "32|34"], "fit": ["slim", None],
    })
    path = tmp_path / "shop.csv"
    table.to_csv(path, index=False)
    source = CatalogSource(path, columns={"id": "sku", "image": "picture", "price": "cost", "category": "kind"})
    items = read_catalog(source).set_index("id")
    assert items.loc["a1", "image"] == str((tmp_path / "img/a.jpg").resolve())
    assert items.loc["b2", "image"] == "/abs/b.jpg"
    assert items.loc["a1", "price"] == 12.5 and math.isnan(items.loc["b2", "price"])
    assert items.loc["a1", "sizes"] == "S|M"
    item = Item.from_row(items.reset_index().iloc[0].to_dict())
    assert item.sizes == ("S", "M") and item.attributes["fit"] == "slim" and item.category == "Shirts"


def test_generic_parquet_with_guessed_columns(tmp_path):
    path = tmp_path / "items.parquet"
    pd.DataFrame({"item_id": [1, 2], "image_path": ["x.jpg", "y.jpg"], "Color": ["Red", "Blue"]}).to_parquet(path)
    items = read_catalog(path)
    assert items["id"].tolist() == ["1", "2"]
    assert items["colour"].tolist() == ["Red", "Blue"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("name,image\nx,a.jpg\n", "cannot find the id column"),
        ("id,image\n1,a.jpg\n1,b.jpg\n", "duplicated id"),
        ("id,image\n", "no rows"),
        ('id,image\n1,"a.jpg\n', "malformed"),
        ("id,image\n1,a.jpg,extra,fields\n2,b.jpg\n", "malformed"),
    ],
)
def test_malformed_tables_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CatalogError, match=message):
        read_catalog(path)


def test_binary_garbage_and_missing_paths_are_clear_errors(tmp_path):
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"\x00\x01not parquet" * 100)
    with pytest.raises(CatalogError, match="malformed"):
        read_catalog(garbage)
    with pytest.raises(CatalogError, match="no such file"):
        read_catalog(tmp_path / "nope.csv")
    with pytest.raises(CatalogError, match="no column 'sku'"):
        path = tmp_path / "ok.csv"
        path.write_text("id,image\n1,a.jpg\n")
        read_catalog(CatalogSource(path, columns={"id": "sku"}))


def test_a_table_of_no_known_layout_says_which_column_to_name(tmp_path):
    (tmp_path / "styles.csv").write_text("product,colour\n1,Red\n")  # the file name of a layout, none of its columns
    with pytest.raises(CatalogError, match="cannot find the id column; name it with --id-column"):
        read_catalog(tmp_path)
    with pytest.raises(CatalogError, match="missing column"):
        read_catalog(CatalogSource(tmp_path, layout="fashion-product-images"))


def test_rows_without_an_id_are_an_error(tmp_path):
    (tmp_path / "shop.csv").write_text("item_id,image\n1,a.jpg\n,b.jpg\n")
    with pytest.raises(CatalogError, match="1 row\\(s\\) have no id"):
        read_catalog(tmp_path / "shop.csv")


def test_guessed_id_columns_keep_leading_zeros(tmp_path):
    (tmp_path / "shop.csv").write_text("product_id,image\n00123,a.jpg\n00124,b.jpg\n")
    assert read_catalog(tmp_path / "shop.csv")["id"].tolist() == ["00123", "00124"]


def test_unreadable_transactions_are_a_catalog_error(tmp_path):
    (tmp_path / "articles.csv").write_text("article_id,product_type_name\n0101,Trousers\n")
    (tmp_path / "transactions.csv").write_text("t_dat,customer_id,article_id\n2020-01-01,c,0101\n")
    with pytest.raises(CatalogError, match="cannot read prices"):
        read_catalog(tmp_path)


def test_mixed_numbers_and_text_in_a_column_become_text():
    from dressup.catalog import parquet_safe

    values = parquet_safe(pd.Series([38, "XL", None], dtype=object)).tolist()
    assert values[:2] == ["38", "XL"] and pd.isna(values[2])
    assert parquet_safe(pd.Series([1.5, None])).dtype == float
