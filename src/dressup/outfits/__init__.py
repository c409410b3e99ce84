"""Complete outfits learned from stylists: ``OutfitModel.load(store).complete(["41085800-02"], n=5)``.

Train with ``dressup.training.train_outfit_model(store, "outfits.csv")`` (torch) or ``dressup outfits train``;
the model is saved in the store and served with NumPy.
"""

from ..store import UnknownItemError
from .completion import CompletedOutfit, OutfitError, OutfitItem, OutfitModel
from .data import OutfitDataError, OutfitTable, item_slots, read_outfits, slot_templates
from .model import CompatibilityModel, NoOutfitModelError, outfit_score
from .scorers import BASELINES, CompatibilityScorer, OutfitScorer

__all__ = ["BASELINES", "CompatibilityModel", "CompatibilityScorer", "CompletedOutfit", "NoOutfitModelError", "OutfitDataError",
           "OutfitError", "OutfitItem", "OutfitModel", "OutfitScorer", "OutfitTable", "UnknownItemError", "item_slots",
           "outfit_score", "read_outfits", "slot_templates"]
