"""Mango's fashion-compatibility datathon: ``products.csv`` with the image path in ``des_filename``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .base import CatalogLayout, CatalogSource, require, text_column

#: Mango's colour names (``des_color_specification_esp``, Spanish) in English. Its colour group
#: (``des_agrup_color_eng``) is too coarse to filter on: it files black under GREY and gold, beige and camel under
#: WHITE. A name missing here falls back to the group.
COLOURS = {
    "NEGRO": "Black", "CRUDO": "Cream", "OFFWHITE": "Off White", "ORO": "Gold", "BLANCO": "White", "BEIGE": "Beige",
    "VERDE": "Green", "MARRON": "Brown", "AZUL": "Blue", "KHAKI": "Khaki", "ROJO": "Red", "PLATA": "Silver",
    "NAVY": "Navy Blue", "CAMEL": "Camel", "GRIS": "Grey", "ROSA": "Pink", "ARENA": "Sand", "NARANJA": "Orange",
    "TEJANO MEDIO": "Blue", "PIEDRA": "Stone", "TEJANO NEGRO": "Black", "CELESTE": "Light Blue", "MOSTAZA": "Mustard",
    "FUCSIA": "Fuchsia", "CHOCOLATE": "Chocolate", "GRIS MEDIO VIGORE": "Grey", "TEJANO OSCURO": "Navy Blue",
    "CUERO": "Tan", "ROSA PASTEL": "Light Pink", "GRIS CLARO VIGORE": "Light Grey", "ANTRACITA": "Charcoal",
    "TEJANO CLARO": "Light Blue", "GRANATE": "Maroon", "TERRACOTA": "Terracotta", "CALDERO": "Rust", "TOPO": "Taupe",
    "MORADO": "Purple", "AMARILLO": "Yellow", "NUDE": "Nude", "CARAMELO": "Caramel", "BURDEOS": "Burgundy",
    "BOTELLA": "Bottle Green", "AMARILLO PASTEL": "Light Yellow", "TURQUESA": "Turquoise", "MALVA": "Mauve",
    "MARINO": "Navy Blue", "VISON": "Mink", "VERDE PASTEL": "Light Green", "GRIS OSCURO VIGORE": "Dark Grey",
    "PERLA": "Pearl Grey", "TABACO": "Tobacco", "CORAL": "Coral", "AGUA": "Aqua", "VINO": "Burgundy",
    "AZUL NOCHE": "Navy Blue", "LIMA": "Lime", "ROSA PALO": "Light Pink", "OLIVA": "Olive", "PEACH": "Peach",
    "OCRE": "Ochre", "VAINILLA": "Vanilla", "FRESA": "Strawberry", "TEJANO GRIS OSCURO": "Charcoal", "DIRTY": "Blue",
    "MARFIL": "Ivory", "LILA": "Lilac", "COGNAC": "Cognac", "HIELO": "Ice Blue", "ROSA LIGHT": "Light Pink",
    "COBRE": "Copper", "CHICLE": "Pink", "MISTERIO": "Navy Blue", "PETROLEO": "Teal", "BLEACH": "Light Blue",
    "TAUPE": "Taupe", "COFFEE": "Coffee", "TEJANO GRIS": "Grey", "CEREZA": "Cherry", "AMARILLO FLUOR": "Neon Yellow",
    "MANDARINA": "Tangerine", "MENTA": "Mint", "BLUEBLACK": "Blue Black", "TEJANO SOFT": "Light Blue",
    "DIRTY OSCURO": "Dark Blue", "NARANJA PASTEL": "Light Orange", "SALMON": "Salmon", "TINTA": "Ink Blue",
    "ESMERALDA": "Emerald", "ELECTRICO": "Electric Blue", "PORCELANA": "Porcelain", "CANELA": "Cinnamon",
    "CAZA": "Hunter Green", "GUNMETAL": "Gunmetal", "MUSGO": "Moss Green", "INDIGO": "Indigo", "DIRTY CLARO": "Light Blue",
    "VIOLETA": "Violet", "CURRY": "Mustard", "MANZANA": "Apple Green", "BILLAR": "Green", "ROSA FLUOR": "Neon Pink",
    "BERMELLON": "Vermilion", "PIMENTON": "Rust", "TEJANO GRIS CLARO": "Light Grey", "BLOOD": "Red", "CENIZA": "Ash Grey",
    "CIRUELA": "Plum", "GERANIO": "Red", "PRUSIA": "Prussian Blue", "ASFALTO": "Charcoal",
}


class Mango(CatalogLayout):
    """category = des_product_type, subcategory = des_product_family, colour = des_color_specification_esp in English
    (`COLOURS`; its group des_agrup_color_eng stays an attribute); an outfit's parts are product families."""

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
        group = text_column(raw, "des_agrup_color_eng").str.title()
        named = text_column(raw, "des_color_specification_esp").str.upper().str.strip().map(COLOURS)
        colour = named.fillna(group)
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
