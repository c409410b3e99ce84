"""Coarse product types shared by catalogs that name their types differently (Fashion Product Images' articleType,
Mango's des_product_type, H&M's product_type_name), for cross-catalog checks: a query photo from one shop and the
catalog of another agree when their types fall in the same coarse type."""

from __future__ import annotations

import numpy as np

COARSE_TYPES: dict[str, tuple[str, ...]] = {
    "tops": ("Tshirts", "Tops", "Shirts", "Kurtas", "Kurtis", "Tunics", "T-Shirt", "T-shirt", "Top", "Blouse", "Shirt",
             "Poloshirt", "Polo shirt", "Overshirt", "Bodysuit", "Vest top"),
    "knitwear": ("Sweaters", "Sweatshirts", "Shrug", "Sweater", "Cardigan", "Sweatshirt", "Sweater Vest",
                 "Cardigan Vest", "Hoodie"),
    "outerwear": ("Jackets", "Waistcoat", "Jacket", "Coat", "Blazer", "Puffer coat", "Trenchcoat", "Leather Jacket",
                  "Parka", "Outer vest", "Vest", "Poncho", "Cape", "Jacket (Cazadora)", "Outdoor Waistcoat",
                  "Tailored Waistcoat"),
    "trousers": ("Trousers", "Jeans", "Track Pants", "Capris", "Leggings", "Churidar", "Joggers", "Leggings/Tights",
                 "Outdoor trousers"),
    "shorts": ("Shorts", "Bermudas"),
    "skirts": ("Skirts", "Skirt", "Skort"),
    "dresses": ("Dresses", "Dress"),
    "jumpsuits": ("Jumpsuit", "Overall", "Jumpsuit/Playsuit", "Dungarees"),
    "shoes": ("Casual Shoes", "Sports Shoes", "Heels", "Sandals", "Flats", "Formal Shoes", "Flip Flops", "Sports Sandals",
              "Shoes", "Ankle Boots", "Boots", "Trainers", "Slippers", "Clogs", "Sneakers", "Heeled sandals",
              "Ballerinas", "Flat shoe", "Flat shoes", "Wedge", "Pumps", "Other shoe", "Flip flop", "Bootie"),
    "bags": ("Handbags", "Clutches", "Backpacks", "Laptop Bag", "Duffel Bag", "Messenger Bag", "Rucksacks", "Waist Pouch",
             "Handbag", "Shoulder bag", "Crossbody bag", "Totes bag", "Bucket bag", "Citybag", "Mini Bag", "Backpack",
             "Belt bag", "Clutch and Pochettes", "Bag", "Cross-body bag", "Weekend/Gym bag", "Tote bag"),
    "wallets": ("Wallets", "Wallet", "Card holder", "Purse"),
    "belts": ("Belts", "Belt"),
    "eyewear": ("Sunglasses", "Glasses", "Eyeglasses"),
    "hats": ("Caps", "Hat", "Beanie", "Cap", "Hat/beanie", "Cap/peaked", "Hat/brim", "Felt hat", "Straw hat"),
    "scarves": ("Scarves", "Mufflers", "Stoles", "Dupatta", "Scarf", "Kerchief", "Foulard"),
    "socks": ("Socks", "Sock (Pack)"),
    "jewellery": ("Necklace and Chains", "Bracelet", "Earrings", "Necklace", "Ring", "Earring"),
    "watches": ("Watches", "Watch"),
    "gloves": ("Gloves",),
    "ties": ("Ties", "Tie"),
    "swimwear": ("Bikini top", "Bikini pantie", "Swimsuit", "Swimwear bottom", "Swimwear set"),
}

_COARSE_OF = {name: coarse for coarse, names in COARSE_TYPES.items() for name in names}


def coarse_type(product_type: str) -> str:
    """The coarse type of a catalog's product type name, or "" when it has none (bedding, perfume ...)."""
    return _COARSE_OF.get(str(product_type), "")


def coarse_types(product_types) -> np.ndarray:
    """`coarse_type` of each name, as an array of strings."""
    return np.array([coarse_type(name) for name in product_types], dtype=object)
