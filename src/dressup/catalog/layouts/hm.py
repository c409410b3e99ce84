"""H&M personalised-recommendation data: ``articles.csv`` + ``images/ARTICLE_ID.jpg`` (+ ``transactions.csv``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...errors import first_line
from ..items import CatalogError
from .base import CatalogLayout, CatalogSource, require


class HM(CatalogLayout):
    """category = product_type_name, colour = colour_group_name, gender from index_group_name, price = the median
    sold price from ``transactions.csv`` when it sits beside the articles; variants share a product_code."""

    name = "hm"
    columns = ("article_id", "product_type_name")
    images_from_ids = True
    table = "articles.csv"
    text_columns = ("article_id",)
    roles = {"variant": "product_code"}

    @classmethod
    def items(cls, raw: pd.DataFrame, path: Path, source: CatalogSource) -> pd.DataFrame:
        require(raw, path, cls.columns)
        ids = raw["article_id"].astype(str).str.strip()
        return pd.DataFrame({
            "id": ids,
            "title": raw.get("prod_name"),
            "category": raw["product_type_name"],
            "subcategory": raw.get("product_group_name"),
            "colour": raw.get("colour_group_name"),
            "gender": raw.get("index_group_name"),
            "price": ids.map(sold_prices(path.parent / "transactions.csv")),
            "sizes": "",
            "brand": "H&M",
            "image": "images/" + ids + ".jpg",
        })


def sold_prices(transactions: Path) -> dict[str, float]:
    """Median sold price per article, when the shop's transactions sit beside the articles."""
    if not transactions.is_file():
        return {}
    try:
        sales = pd.read_csv(transactions, usecols=["article_id", "price"], dtype={"article_id": str})
        prices = pd.to_numeric(sales["price"], errors="coerce")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, OSError) as error:
        raise CatalogError(f"{transactions}: cannot read prices ({first_line(error)})") from None
    return prices.groupby(sales["article_id"]).median().to_dict()
