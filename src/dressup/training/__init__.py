"""Training (needs the ``[train]`` extra, i.e. torch): ``train_encoder(TrainConfig(catalog=...), out_dir)``."""

from .colour_stage import ColourStageReport, fit_colour_stage
from .trainer import TrainConfig, TrainResult, train_encoder

__all__ = ["ColourStageReport", "TrainConfig", "TrainResult", "fit_colour_stage", "train_encoder"]
