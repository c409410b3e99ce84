"""Fashion Product Images (Kaggle): ``styles.csv`` + ``images/ID.jpg``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .base import CatalogLayout, CatalogSource, require, text_column


class FashionProductImages(CatalogLayout):
    """category = articleType, subcategory = subCategory, colour = baseColour, brand = the name's first word."""

    name = "fashion-product-images"
    columns = ("id", "articleType")
    images_from_ids = True
    table = "styles.csv"
    text_columns = ("id",)

    @classmethod
    def items(cls, raw: pd.DataFrame, path: Path, source: CatalogSource) -> pd.DataFrame:
        require(raw, path, ("id", "articleType"))
        names = text_column(raw, "productDisplayName")
        ids = raw["id"].astype(str).str.strip()
        return pd.DataFrame({
            "id": ids,
            "title": names,
            "category": raw["articleType"],
            "subcategory": raw.get("subCategory"),
            "colour": raw.get("baseColour"),
            "gender": raw.get("gender"),
            "price": np.nan,
            "sizes": "",
            "brand": names.str.split().str[0].fillna(""),
            "image": "images/" + ids + ".jpg",
        })
