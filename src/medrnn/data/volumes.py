"""Slice stacks as torch data: item i -> (x (slices, channels * side * side), None, y, i), each stack augmented on
access when an augmenter is given (training only); stacks of different slice counts are padded by `collate`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from medrnn.errors import ShapeError


class VolumeStacks(Dataset):
    """Flattened slice stacks and their targets; `augment` maps (slices, channels, side, side) to a stack like it.

    Targets are class indices (`multiclass`) or float rows (binary, regression) of shape (outputs,).
    """

    def __init__(self, xs: list[np.ndarray], y: np.ndarray, multiclass: bool, side: int,
                 augment: Callable[[np.ndarray], np.ndarray] | None = None) -> None:  # fmt: skip
        for i, x in enumerate(xs if augment is not None else []):  # without augmentation any (steps, features) goes
            if x.ndim != 2 or x.shape[1] % (side * side):
                raise ShapeError(f"stack {i}: shape {x.shape}, expected (slices, channels * {side} * {side})")
        self.xs, self.side, self.multiclass, self.augment = xs, side, multiclass, augment
        self.y = np.asarray(y, dtype=np.int64 if multiclass else np.float32)

    def __len__(self) -> int:
        return len(self.xs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, None, torch.Tensor, int]:
        x = self.xs[i]
        if self.augment is not None:  # one draw for the whole stack: its slices stay aligned
            stack = self.augment(x.reshape(x.shape[0], -1, self.side, self.side))
            x = stack.reshape(stack.shape[0], -1)
        y = torch.tensor(self.y[i]) if self.multiclass else torch.tensor(self.y[i]).reshape(-1)
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), None, y, i


__all__ = ["VolumeStacks"]
