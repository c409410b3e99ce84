import numpy as np
import pandas as pd
import pytest

from dressup.store.filters import FilterError, FilterIndex, Filters

ITEMS = pd.DataFrame({
    "id": ["1", "2", "3", "4", "5"],
    "category": ["Shirts", "shirts", "Jeans", "Dresses", None],
    "colour": ["Blue", "White", "Blue", "Red", "Blue"],
    "gender": ["Men", "Women", "Men", "Women", "Unisex"],
    "price": [20.0, 60.0, np.nan, 45.0, 5.0],
    "sizes": ["S|M", "M|L", "", "XS|S", "M"],
    "image": ["a", "b", "c", "d", "e"],
    "attr:product_type_no": [304, 273, 304, 265, 272],
    "attr:season": ["Summer", "Winter", "Summer", "Fall", None],
})


def allowed(filters):
    mask = FilterIndex(ITEMS).mask(filters)
    return None if mask is None else ITEMS["id"][mask].tolist()


def test_no_filters_means_no_mask():
    assert allowed(Filters()) is None
    assert allowed(None) is None


def test_values_match_case_insensitively_and_several_values_mean_any():
    assert allowed(Filters(where={"category": "SHIRTS"})) == ["1", "2"]
    assert allowed(Filters(where={"colour": ["white", "red"]})) == ["2", "4"]


def test_columns_combine_with_and_and_exclusions_apply():
    assert allowed(Filters(where={"category": "shirts", "gender": "Men"})) == ["1"]
    assert allowed(Filters(exclude={"colour": "Blue"})) == ["2", "4"]


def test_price_range_drops_items_without_a_price():
    assert allowed(Filters(max_price=45)) == ["1", "4", "5"]
    assert allowed(Filters(min_price=20, max_price=50)) == ["1", "4"]


def test_size_matches_one_of_the_items_sizes():
    assert allowed(Filters(size="s")) == ["1", "4"]


def test_attributes_and_numbers_filter_too():
    assert allowed(Filters(where={"season": "summer"})) == ["1", "3"]
    assert allowed(Filters(where={"product_type_no": "304"})) == ["1", "3"]
    assert allowed(Filters(where={"attr:product_type_no": 273})) == ["2"]


def test_missing_values_never_match():
    assert "5" not in allowed(Filters(where={"category": "None"}))


def test_unknown_column_is_an_error_naming_the_columns():
    with pytest.raises(FilterError, match="unknown filter column 'material'.*season"):
        FilterIndex(ITEMS).mask(Filters(where={"material": "silk"}))


def test_where_the_photo_is_kept_is_no_filter():
    for column in ("image", "IMAGE", "image_hash"):
        with pytest.raises(FilterError, match="cannot be filtered on"):
            FilterIndex(ITEMS.assign(image_hash="h")).mask(Filters(where={column: "a"}))
        with pytest.raises(FilterError, match="cannot be filtered on"):
            FilterIndex(ITEMS.assign(image_hash="h")).mask(Filters(exclude={column: "a"}))


def test_parse_expressions():
    filters = Filters.parse(["category=Shirts", "category=Jeans", "colour!=Blue", "title=a=b"], max_price=30)
    assert filters.where == {"category": ["Shirts", "Jeans"], "title": ["a=b"]}
    assert filters.exclude == {"colour": ["Blue"]}
    assert filters.max_price == 30
    for bad in ("category", "=Shirts"):
        with pytest.raises(FilterError, match="malformed filter"):
            Filters.parse([bad])


def test_a_sizes_filter_means_sold_in_that_size():
    assert allowed(Filters(where={"sizes": "M"})) == allowed(Filters(size="M")) == ["1", "2", "5"]


def test_a_catalog_without_sizes_or_prices_says_so_instead_of_matching_nothing():
    bare = ITEMS.assign(sizes="", price=np.nan)
    for filters in (Filters(size="M"), Filters(where={"sizes": "M"})):
        with pytest.raises(FilterError, match="lists its sizes"):
            FilterIndex(bare).mask(filters)
    with pytest.raises(FilterError, match="has a price"):
        FilterIndex(bare).mask(Filters(max_price=50))
    assert FilterIndex(bare).mask(Filters(where={"colour": "Red"})).sum() == 1  # other filters still work
