"""A 3-D ResNet-18 (MONAI's `monai.networks.nets.resnet18`, spatial_dims=3) over a volume's slices resampled to a cube:
the standard volumetric baseline a slice model should be compared with. Same input as `slice_rnn` and `cnn3d`:
x (batch, slices, channels * side * side) with `lengths`; the real slices of each volume are resampled along the slice
axis to `cube_depth` planes (default: side, a cube; `models/cube.py`), so padding never enters.

MONAI's network ends at its global average pool (feed_forward=False); the head is this model's own `classifier`, so
transfer learning (`--init-from`) treats everything else as the encoder.
"""

from __future__ import annotations

import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models.base import ContractModel, Encoded, head_layers
from medrnn.models.cube import slices_to_cube, square_side
from medrnn.registry import MODELS

RESNET18_WIDTH = 512  # features after layer4 of a ResNet-18 at widen_factor 1 (basic blocks: expansion 1)


class VolumeResNet(ContractModel):
    """MONAI ResNet-18 backbone (2-D or 3-D) -> dropout -> [static] -> classifier; subclasses say what image it reads."""

    name = "volume_resnet"
    spatial_dims = 3

    def _build(self, input_size: int, num_classes: int, in_channels: int, image_channels: int, widen_factor: float,
               hidden_size: int, dropout: float, num_static: int) -> None:  # fmt: skip
        from monai.networks.nets import resnet18

        self.side = square_side(self.name, input_size, in_channels)
        if widen_factor <= 0 or int(64 * widen_factor) < 1:
            raise ConfigError(f"{self.name}: widen_factor={widen_factor}; expected > 0 (1.0: the 64-128-256-512 ResNet-18, "
                              "0.25: 16-32-64-128)")  # fmt: skip
        if hidden_size < 0 or not 0 <= dropout < 1:
            raise ConfigError(f"{self.name}: hidden_size {hidden_size} (>= 0; 0: a linear head), dropout {dropout} (0 <= p < 1)")
        self.input_size, self.in_channels, self.num_static = input_size, in_channels, num_static
        self.backbone = resnet18(spatial_dims=self.spatial_dims, n_input_channels=image_channels, widen_factor=widen_factor,
                                 feed_forward=False)  # fmt: skip
        features = int(RESNET18_WIDTH * widen_factor) + num_static
        self.dropout = nn.Dropout(dropout)
        self.classifier = head_layers(features, hidden_size, num_classes, dropout)

    def image(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The backbone's input built from the batch's real slices."""
        raise NotImplementedError

    def _check(self, batch: Batch) -> None:
        if batch.x.ndim != 3 or batch.x.shape[2] != self.input_size:
            raise ShapeError(f"{self.name}: x must be (batch, slices, {self.input_size}) = {self.in_channels} channel(s) of "
                             f"{self.side}x{self.side} per slice, got {tuple(batch.x.shape)}")  # fmt: skip
        if self.num_static and (batch.static is None or batch.static.shape[1] != self.num_static):
            got = None if batch.static is None else tuple(batch.static.shape)
            raise ShapeError(f"{self.name}: static must be (batch, {self.num_static}), got {got}")

    def encode(self, batch: Batch) -> Encoded:
        self._check(batch)
        pooled = self.dropout(self.backbone(self.image(batch.x, batch.lengths)))  # (batch, 512 * widen_factor)
        if self.num_static:
            pooled = torch.cat([pooled, batch.static], dim=-1)
        return Encoded(pooled, None)


@MODELS.register("resnet3d")
class ResNet3dClassifier(VolumeResNet):
    """3-D ResNet-18 on the slices resampled to a (cube_depth, side, side) volume per channel."""

    name = "resnet3d"
    spatial_dims = 3

    def __init__(self, input_size: int, num_classes: int, in_channels: int = 1, widen_factor: float = 1.0, cube_depth: int = 0,
                 hidden_size: int = 0, dropout: float = 0.2, num_static: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        if cube_depth < 0:
            raise ConfigError(f"resnet3d: cube_depth={cube_depth}; planes of the resampled volume, 0 for as many as the slice side")
        self._build(input_size, num_classes, in_channels, in_channels, widen_factor, hidden_size, dropout, num_static)
        self.depth = cube_depth or self.side

    def image(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        cube = slices_to_cube(x, lengths, self.depth)  # (batch, depth, channels * side * side)
        return cube.view(x.shape[0], self.depth, self.in_channels, self.side, self.side).transpose(1, 2)  # (batch, C, D, H, W)


__all__ = ["RESNET18_WIDTH", "ResNet3dClassifier", "VolumeResNet"]
