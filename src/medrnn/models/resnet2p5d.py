"""A 2.5-D ResNet-18: the volume's slices resampled to a cube (side^3, `models/cube.py`), its three orthogonal central
planes (axial, coronal, sagittal) stacked as the channels of one 2-D image, read by MONAI's 2-D ResNet-18
(`resnet18(spatial_dims=2)`). The cheap middle ground between a slice model and a 3-D network (MedMNIST v2's "2.5D").

Same input as `slice_rnn`: x (batch, slices, channels * side * side) with `lengths`; with C input channels the image has
3 * C channels (each plane's channels together). The head is the model's own `classifier`.
"""

from __future__ import annotations

import torch

from medrnn.models.cube import central_planes, slices_to_cube
from medrnn.models.resnet3d import VolumeResNet
from medrnn.registry import MODELS


@MODELS.register("resnet2p5d")
class ResNet2p5dClassifier(VolumeResNet):
    """2-D ResNet-18 on the three orthogonal central planes of the resampled cube."""

    name = "resnet2p5d"
    spatial_dims = 2

    def __init__(self, input_size: int, num_classes: int, in_channels: int = 1, widen_factor: float = 1.0, hidden_size: int = 0,
                 dropout: float = 0.2, num_static: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        self._build(input_size, num_classes, in_channels, 3 * in_channels, widen_factor, hidden_size, dropout, num_static)

    def image(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        n = self.side
        cube = slices_to_cube(x, lengths, n).view(x.shape[0], n, self.in_channels, n, n).transpose(1, 2)  # (batch, C, n, n, n)
        return central_planes(cube)  # (batch, 3 * C, n, n)


__all__ = ["ResNet2p5dClassifier"]
