"""Training augmentation of slice stacks (CT nodules, MRI/CT volumes read slice by slice) with MONAI transforms.

A stack is x (slices, channels, height, width) float32. One draw per stack: every slice and channel is flipped, turned
and rotated alike, so the slices stay aligned. Intensity changes touch only the image channels (`image_channels`
first ones), never an outline channel; the outline is rotated with nearest-neighbour so its vote counts stay counts.
Each transform has its own seeded generator (MONAI's `set_random_state`), so a run's draws follow from its seed.

MONAI is imported on first use: it is in the `imaging` extra, and nothing here is needed to read files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from medrnn.errors import ConfigError, ShapeError


@dataclass(frozen=True)
class VolumeAugmentSettings:
    """What to draw per stack; 0 (or False) turns each off."""

    flip: bool = True  # random 90-degree turn (0, 90, 180, 270 equally likely) and horizontal flip
    rotate_deg: float = 0.0  # in-plane rotation drawn from [-rotate_deg, +rotate_deg]
    intensity_scale: float = 0.0  # image channels times (1 + f), f drawn from [-scale, +scale]
    intensity_shift: float = 0.0  # image channels plus an offset drawn from [-shift, +shift] (standardised units)
    slice_dropout: float = 0.0  # probability of removing one random slice (never the last one left)

    @property
    def active(self) -> bool:
        """True when any transform is on."""
        return bool(self.flip or self.rotate_deg or self.intensity_scale or self.intensity_shift or self.slice_dropout)

    @classmethod
    def from_config(cls, config: Any) -> VolumeAugmentSettings:
        """The settings of a config holding the same field names (a task's train section)."""
        return cls(**{k: getattr(config, k) for k in cls.__dataclass_fields__})


def drop_slice(x: np.ndarray, rng: np.random.RandomState, probability: float) -> np.ndarray:
    """With `probability`, x without one slice drawn uniformly (a missed or corrupt slice); a single slice is kept.

    Written by hand: MONAI's dropouts (RandCoarseDropout) zero boxes of voxels and keep the shape; none removes a slice.
    """
    if len(x) < 2 or probability <= 0 or rng.random_sample() >= probability:
        return x
    return np.delete(x, rng.randint(len(x)), axis=0)


class VolumeAugmenter:
    """Callable x (slices, channels, H, W) -> augmented copy (slices' or slices - 1, channels, H, W), seeded by `seed`."""

    def __init__(self, settings: VolumeAugmentSettings, seed: int, image_channels: int = 1) -> None:
        from monai.transforms import RandRotate, RandScaleIntensity, RandShiftIntensity

        if settings.rotate_deg < 0 or settings.rotate_deg > 180 or not 0 <= settings.slice_dropout <= 1:
            raise ConfigError(f"volume augmentation: rotate_deg {settings.rotate_deg} (expected 0-180), slice_dropout "
                              f"{settings.slice_dropout} (expected a probability 0-1)")  # fmt: skip
        if settings.intensity_scale < 0 or settings.intensity_shift < 0:
            raise ConfigError(f"volume augmentation: intensity_scale {settings.intensity_scale} and intensity_shift "
                              f"{settings.intensity_shift} must be >= 0 (0 turns each off)")  # fmt: skip
        self.settings, self.image_channels = settings, image_channels
        # 2-D transforms on (slices * channels, H, W): the spatial axes are (0, 1) = (H, W) after the channel axis
        # flips and turns draw from numpy as the benchmarked LIDC runs did (seed = the run seed), so they reproduce
        self.flip_rng = np.random.default_rng(seed)
        self.rotate = RandRotate(range_x=math.radians(settings.rotate_deg), prob=1.0, keep_size=True, padding_mode="border")
        self.scale = RandScaleIntensity(factors=settings.intensity_scale, prob=1.0)
        self.shift = RandShiftIntensity(offsets=settings.intensity_shift, prob=1.0)
        for k, transform in enumerate((self.rotate, self.scale, self.shift), start=2):
            transform.set_random_state(seed=(seed * 7919 + k) % 2**32)
        self.slice_rng = np.random.RandomState((seed * 7919 + 5) % 2**32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 4 or x.shape[1] < self.image_channels:
            raise ShapeError(f"volume augmentation: expected (slices, channels >= {self.image_channels}, H, W), got {x.shape}")
        s, n, c = self.settings, len(x), x.shape[1]
        if s.flip:  # one turn and one flip for every slice and channel alike
            x = np.rot90(x, int(self.flip_rng.integers(4)), axes=(2, 3))
            if self.flip_rng.random() < 0.5:
                x = x[..., ::-1]
        planes = np.ascontiguousarray(x, dtype=np.float32).reshape(n * c, *x.shape[2:])  # every slice's channels as 2-D channels
        if s.rotate_deg:
            self.rotate.randomize(None)  # one angle for the image and the outline channels
            stack = planes.reshape(n, c, *planes.shape[1:])
            image = as_numpy(self.rotate(stack[:, : self.image_channels].reshape(-1, *planes.shape[1:]), randomize=False))
            parts = [image.reshape(n, self.image_channels, *image.shape[1:])]
            if c > self.image_channels:
                rest = stack[:, self.image_channels :].reshape(-1, *planes.shape[1:])
                outline = as_numpy(self.rotate(rest, mode="nearest", randomize=False))
                parts.append(outline.reshape(n, c - self.image_channels, *outline.shape[1:]))
            planes = np.concatenate(parts, axis=1).reshape(n * c, *planes.shape[1:])
        out = planes.reshape(n, c, *planes.shape[1:])
        if s.intensity_scale or s.intensity_shift:
            image = out[:, : self.image_channels].reshape(-1, *out.shape[2:])
            if s.intensity_scale:
                image = as_numpy(self.scale(image))
            if s.intensity_shift:
                image = as_numpy(self.shift(image))
            out = out.copy()
            out[:, : self.image_channels] = image.reshape(n, self.image_channels, *out.shape[2:])
        if s.slice_dropout:
            out = drop_slice(out, self.slice_rng, s.slice_dropout)
        return np.ascontiguousarray(out, dtype=np.float32)


def as_numpy(value: Any) -> np.ndarray:
    """A MONAI output (MetaTensor or tensor) as a float32 numpy array."""
    import torch

    return torch.as_tensor(value).detach().cpu().numpy().astype(np.float32, copy=False)


__all__ = ["VolumeAugmentSettings", "VolumeAugmenter", "as_numpy", "drop_slice"]
