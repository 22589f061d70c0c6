"""Slice stacks as fixed-size cubes for the volume baselines (`resnet3d`, `resnet2p5d`): each stack's real slices are
resampled linearly along the slice axis to `depth` planes, so a stack of any slice count (1 to 56 in LIDC) becomes
(channels, depth, side, side), and padding never enters (only positions below each length are read).

The resampling is in slice index, not in millimetres: the batch carries no spacing, and LIDC's crops are 8-bit grey
levels of scans 0.6-3 mm thick; a nodule of 4 slices is stretched to `depth` planes like one of 40.
"""

from __future__ import annotations

import math

import torch

from medrnn.errors import ConfigError, ShapeError


def square_side(name: str, input_size: int, in_channels: int) -> int:
    """The side of square slices flattened as `in_channels` x side x side; a size that is not one is a ConfigError."""
    side = math.isqrt(max(input_size // max(in_channels, 1), 0))
    if in_channels < 1 or side < 1 or in_channels * side * side != input_size:
        raise ConfigError(f"{name}: input_size={input_size} must be in_channels ({in_channels}) x side x side "
                          "(square slices flattened row-major per channel)")  # fmt: skip
    return side


def slices_to_cube(x: torch.Tensor, lengths: torch.Tensor, depth: int) -> torch.Tensor:
    """x (batch, slices, features), real slices x[b, :lengths[b]] -> (batch, depth, features), linear in slice index
    with the first and last real slice kept at the ends (one slice is repeated)."""
    if x.ndim != 3 or lengths.shape != (x.shape[0],) or depth < 1:
        raise ShapeError(f"slices_to_cube: x (batch, slices, features) and lengths (batch,), got {tuple(x.shape)} and "
                         f"{tuple(lengths.shape)}, depth {depth}")  # fmt: skip
    last = (lengths.to(x.device) - 1).clamp(min=0).to(x.dtype)  # (batch,)
    grid = torch.linspace(0, 1, depth, device=x.device, dtype=x.dtype) if depth > 1 else x.new_full((1,), 0.5)
    pos = grid[None, :] * last[:, None]  # (batch, depth) fractional slice positions
    low = pos.floor().long()
    high = torch.minimum(low + 1, last.long()[:, None])
    weight = (pos - low.to(x.dtype))[..., None]  # (batch, depth, 1)
    take = lambda index: x.gather(1, index[..., None].expand(-1, -1, x.shape[2]))  # noqa: E731
    return take(low) * (1 - weight) + take(high) * weight  # (batch, depth, features)


def central_planes(cube: torch.Tensor) -> torch.Tensor:
    """cube (batch, channels, depth, H, W) with depth == H == W -> (batch, 3 * channels, H, W): the axial, coronal and
    sagittal central planes (the mean of the two middle planes when a side is even), channels of each plane together."""
    if cube.ndim != 5 or not cube.shape[2] == cube.shape[3] == cube.shape[4]:
        raise ShapeError(f"central_planes: expected a cube (batch, channels, n, n, n), got {tuple(cube.shape)}")

    def middle(axis: int) -> torch.Tensor:
        n = cube.shape[axis]
        return cube.narrow(axis, (n - 1) // 2, 2 - n % 2).mean(dim=axis)

    return torch.cat([middle(2), middle(3), middle(4)], dim=1)  # (batch, 3 * channels, n, n)


__all__ = ["central_planes", "slices_to_cube", "square_side"]
