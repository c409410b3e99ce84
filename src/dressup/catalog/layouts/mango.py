"""Mango's fashion-compatibility datathon: ``products.csv`` with the image path in ``des_filename``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .base import CatalogLayout, CatalogSource, require, text_column


class Mango(CatalogLayout):
    """category = des_product_type, subcategory = des_product_family, colour = des_agrup_color_eng; an outfit's
    parts are product families."""

    name = "mango"
    columns = ("cod_modelo_color", "des_filename")
    table = "products.csv"
    text_columns = ("cod_modelo_color",)
    roles = {
        "slot": "des_product_family",
        "outfit_features": ("des_product_family", "des_product_type", "des_agrup_color_eng", "des_fabric", "des_line"),
    }

    @classmethod
    def items(cls, raw: pd.DataFrame, path: Path, source: CatalogSource) -> pd.DataFrame:
        require(raw, path, cls.columns)
        colour = text_column(raw, "des_agrup_color_eng").str.title()
        kind = text_column(raw, "des_product_type")
        return pd.DataFrame({
            "id": raw["cod_modelo_color"].astype(str).str.strip(),
            "title": (colour + " " + kind).str.strip(),
            "category": kind,
            "subcategory": raw.get("des_product_family"),
            "colour": colour,
            "gender": raw.get("des_sex"),
            "price": np.nan,
            "sizes": "",
            "brand": "Mango",
            "image": raw["des_filename"],
        })
