"""Training (needs the ``[train]`` extra, i.e. torch): ``train_encoder(TrainConfig(catalog=...), out_dir)``."""

from .trainer import TrainConfig, TrainResult, train_encoder

__all__ = ["TrainConfig", "TrainResult", "train_encoder"]
