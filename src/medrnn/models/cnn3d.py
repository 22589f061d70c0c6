"""A plain 3-D CNN over a volume's slices: the baseline a slice model must beat. Same input as `slice_rnn`:
x (batch, slices, channels * side * side) with `lengths`; convolutions span 3 slices, pooling halves only the slice
plane (slices stay aligned with the input), and the features of the real slices are averaged.

Padded slices are zeroed before every block, so a padded volume convolves exactly as the unpadded one with the
convolution's own zero padding (eval mode; in training, BatchNorm's batch statistics see the zeros).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models.base import ContractModel, Encoded, head_layers
from medrnn.registry import MODELS


@MODELS.register("cnn3d")
class Cnn3dClassifier(ContractModel):
    """`cnn_blocks` x (Conv3d 3x3x3 -> BatchNorm -> ReLU -> in-plane max-pool 2) -> mean over the real slices -> head
    (a hidden layer of `hidden_size`, 0: linear)."""

    name = "cnn3d"

    def __init__(self, input_size: int, num_classes: int, in_channels: int = 1, cnn_channels: list[int] | int = 16,
                 cnn_blocks: int = 3, hidden_size: int = 64, dropout: float = 0.2, num_static: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        side = math.isqrt(max(input_size // max(in_channels, 1), 0))
        if in_channels < 1 or side < 1 or in_channels * side * side != input_size:
            raise ConfigError(f"cnn3d: input_size={input_size} must be in_channels ({in_channels}) x side x side")
        channels = list(cnn_channels) if isinstance(cnn_channels, (list, tuple)) else [cnn_channels * 2**i for i in range(cnn_blocks)]
        if not channels or min(channels) < 1 or side < 2 ** len(channels):
            raise ConfigError(f"cnn3d: cnn_channels {cnn_channels!r} with {side}x{side} slices; positive widths, at most "
                              f"log2({side}) blocks")  # fmt: skip
        self.input_size, self.in_channels, self.side, self.num_static = input_size, in_channels, side, num_static
        self.blocks = nn.ModuleList()
        size_in = in_channels
        for size in channels:
            self.blocks.append(nn.Sequential(nn.Conv3d(size_in, size, 3, padding=1, bias=False), nn.BatchNorm3d(size), nn.ReLU(),
                                             nn.MaxPool3d((1, 2, 2))))  # fmt: skip
            size_in = size
        self.dropout = nn.Dropout(dropout)
        features = size_in + num_static
        self.classifier = head_layers(features, hidden_size, num_classes, dropout)

    def encode(self, batch: Batch) -> Encoded:
        x, lengths = batch.x, batch.lengths
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ShapeError(f"cnn3d: x must be (batch, slices, {self.input_size}), got {tuple(x.shape)}")
        if self.num_static and (batch.static is None or batch.static.shape[1] != self.num_static):
            raise ShapeError(f"cnn3d: static must be (batch, {self.num_static})")
        mask = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).to(x.dtype)  # (batch, slices)
        h = x.view(x.shape[0], x.shape[1], self.in_channels, self.side, self.side).transpose(1, 2)  # (batch, C, slices, H, W)
        for block in self.blocks:
            h = block(h * mask[:, None, :, None, None])  # (batch, channels, slices, H', W')
        h = h.mean(dim=(3, 4)) * mask[:, None, :]  # (batch, channels, slices)
        pooled = self.dropout(h.sum(dim=2) / lengths.clamp(min=1)[:, None].to(h.dtype))  # (batch, channels)
        if self.num_static:
            pooled = torch.cat([pooled, batch.static], dim=-1)
        return Encoded(pooled, None)


__all__ = ["Cnn3dClassifier"]
