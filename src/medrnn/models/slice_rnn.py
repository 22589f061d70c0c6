"""Volumes read slice by slice: a small 2-D CNN encodes each slice, a bidirectional LSTM relates the slices, additive
attention pools them (its weights say which slices decided), a head classifies.

The input keeps medrnn's batch layout: x (batch, slices, channels * height * width), each slice flattened row-major
per channel, with `lengths`/`mask` marking the real slices (volumes have different slice counts: padded, never
packed). Only real slices go through the CNN, so padding changes nothing and BatchNorm never sees it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models.attention import AdditiveAttention
from medrnn.models.base import ContractModel, Encoded, head_layers, reverse_padded
from medrnn.registry import MODELS


class SliceEncoder(nn.Module):
    """Per block: conv 3x3 -> BatchNorm -> ReLU -> conv 3x3 -> BatchNorm -> ReLU -> max-pool 2; then global average."""

    def __init__(self, in_channels: int, channels: list[int]) -> None:
        super().__init__()
        blocks, size_in = [], in_channels
        for size in channels:
            blocks += [nn.Conv2d(size_in, size, 3, padding=1, bias=False), nn.BatchNorm2d(size), nn.ReLU(),
                       nn.Conv2d(size, size, 3, padding=1, bias=False), nn.BatchNorm2d(size), nn.ReLU(), nn.MaxPool2d(2)]  # fmt: skip
            size_in = size
        self.blocks = nn.Sequential(*blocks)
        self.output_size = size_in

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.blocks(images).mean(dim=(2, 3))  # (slices, channels)


@MODELS.register("slice_rnn")
class SliceRnnClassifier(ContractModel):
    """2-D CNN per slice -> BiLSTM over slices (masked) -> additive slice attention -> [static] -> head."""

    name = "slice_rnn"

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        in_channels: int = 1,
        cnn_channels: list[int] | int = 16,  # an int: the first block's width, doubled in each next block
        cnn_blocks: int = 3,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.2,
        attention_size: int = 32,
        num_static: int = 0,
        head_hidden: int = 64,
    ) -> None:
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        side = math.isqrt(max(input_size // max(in_channels, 1), 0))
        if in_channels < 1 or side < 1 or in_channels * side * side != input_size:
            raise ConfigError(f"slice_rnn: input_size={input_size} must be in_channels ({in_channels}) x side x side "
                              "(square slices flattened row-major per channel)")  # fmt: skip
        channels = list(cnn_channels) if isinstance(cnn_channels, (list, tuple)) else [cnn_channels * 2**i for i in range(cnn_blocks)]
        if not channels or min(channels) < 1 or hidden_size < 1 or num_layers < 1:
            raise ConfigError(f"slice_rnn: cnn_channels {cnn_channels!r}, hidden_size {hidden_size}, num_layers {num_layers}; "
                              "all must be positive")  # fmt: skip
        if side < 2 ** len(channels):
            raise ConfigError(f"slice_rnn: {len(channels)} CNN blocks halve {side}x{side} slices below one pixel; use fewer blocks")
        self.input_size, self.in_channels, self.side, self.num_static = input_size, in_channels, side, num_static
        self.encoder = SliceEncoder(in_channels, channels)
        self.forward_layers, self.backward_layers = nn.ModuleList(), nn.ModuleList()
        size_in = self.encoder.output_size
        for _ in range(num_layers):
            self.forward_layers.append(nn.LSTM(size_in, hidden_size, batch_first=True))
            self.backward_layers.append(nn.LSTM(size_in, hidden_size, batch_first=True))
            size_in = 2 * hidden_size
        self.dropout = nn.Dropout(dropout)
        self.attention = AdditiveAttention(size_in, attention_size)
        features = size_in + num_static
        self.classifier = head_layers(features, head_hidden, num_classes, dropout)

    def _check(self, batch: Batch) -> None:
        if batch.x.ndim != 3 or batch.x.shape[2] != self.input_size:
            raise ShapeError(f"slice_rnn: x must be (batch, slices, {self.input_size}) = {self.in_channels} channel(s) of "
                             f"{self.side}x{self.side} per slice, got {tuple(batch.x.shape)}")  # fmt: skip
        if self.num_static and (batch.static is None or batch.static.shape[1] != self.num_static):
            got = None if batch.static is None else tuple(batch.static.shape)
            raise ShapeError(f"slice_rnn: static must be (batch, {self.num_static}), got {got}")

    def encode(self, batch: Batch) -> Encoded:
        self._check(batch)
        x, lengths = batch.x, batch.lengths
        mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]  # (batch, slices)
        images = x[mask].view(-1, self.in_channels, self.side, self.side)  # (real slices, channels, H, W)
        h = x.new_zeros(x.shape[0], x.shape[1], self.encoder.output_size)
        h = h.masked_scatter(mask[..., None], self.encoder(images))  # (batch, slices, cnn features), padding 0
        for fwd, bwd in zip(self.forward_layers, self.backward_layers):
            out, _ = fwd(h)  # (batch, slices, hidden)
            back, _ = bwd(reverse_padded(h, lengths))
            h = self.dropout(torch.cat([out, reverse_padded(back, lengths)], dim=-1))  # (batch, slices, 2*hidden)
        pooled, weights = self.attention(h, mask)  # (batch, 2*hidden), (batch, slices)
        if self.num_static:
            pooled = torch.cat([pooled, batch.static], dim=-1)
        return Encoded(pooled, weights)


__all__ = ["SliceEncoder", "SliceRnnClassifier"]
