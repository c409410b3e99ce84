"""Training (needs the ``[train]`` extra, i.e. torch): the fashion encoder and the outfit model.

``train_encoder(TrainConfig(catalog=...), out_dir)`` fine-tunes the image encoder; ``train_outfit_model(store,
outfits)`` learns outfit compatibility. What they produce is served without torch (ONNX Runtime, NumPy).
"""

from .colour_stage import ColourStageReport, fit_colour_stage
from .outfits import OutfitTrainConfig, train_compatibility, train_outfit_model
from .trainer import TrainConfig, TrainResult, train_encoder

__all__ = ["ColourStageReport", "OutfitTrainConfig", "TrainConfig", "TrainResult", "fit_colour_stage", "train_compatibility",
           "train_encoder", "train_outfit_model"]
