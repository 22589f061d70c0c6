"""Signal augmentations as pure numpy functions, with thin wrappers a task's config builds by name.

Every function takes x of shape (..., time) (one window, or a batch of them, channels on any leading axis) and an
explicit `np.random.Generator`, and returns an array of the same shape and dtype: the same generator state gives
the same result. `mixup` also mixes the labels (one-hot or soft, shape (..., classes)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medrnn.errors import ConfigError


def scale_amplitude(x: np.ndarray, rng: np.random.Generator, max_change: float = 0.2) -> np.ndarray:
    """Multiply each signal by one gain drawn from [1 - max_change, 1 + max_change] (electrode contact, amplifier gain)."""
    gain = 1 + rng.uniform(-max_change, max_change, size=x.shape[:-1] + (1,))
    return (x * gain).astype(x.dtype, copy=False)


def baseline_wander(x: np.ndarray, rng: np.random.Generator, sfreq_hz: float, amplitude: float = 0.1,
                    max_freq_hz: float = 0.5) -> np.ndarray:  # fmt: skip
    """Add a slow sinusoid (frequency up to `max_freq_hz`, random phase) of `amplitude` times each signal's std:
    drift of electrode potentials, breathing, sweat."""
    t = np.arange(x.shape[-1]) / sfreq_hz
    freq = rng.uniform(0.05, max_freq_hz, size=x.shape[:-1] + (1,))
    phase = rng.uniform(0, 2 * np.pi, size=x.shape[:-1] + (1,))
    scale = amplitude * np.std(x, axis=-1, keepdims=True)
    return (x + scale * np.sin(2 * np.pi * freq * t + phase)).astype(x.dtype, copy=False)


def gaussian_noise(x: np.ndarray, rng: np.random.Generator, snr_db: float = 20.0) -> np.ndarray:
    """Add white noise at a signal-to-noise ratio of `snr_db` (signal power = each signal's mean square)."""
    power = np.mean(np.square(x, dtype=np.float64), axis=-1, keepdims=True)
    std = np.sqrt(power / 10 ** (snr_db / 10))
    return (x + std * rng.standard_normal(x.shape)).astype(x.dtype, copy=False)


def time_shift(x: np.ndarray, rng: np.random.Generator, max_fraction: float = 0.1) -> np.ndarray:
    """Crop a random shift of up to `max_fraction` of the length off one end and pad the other by edge reflection,
    so the length stays: the window starts a little earlier or later in the recording. One shift per call."""
    n = x.shape[-1]
    max_steps = int(max_fraction * n)
    if max_steps <= 0:
        return x.copy()
    k = int(rng.integers(-max_steps, max_steps + 1))
    if k == 0:
        return x.copy()
    width = [(0, 0)] * (x.ndim - 1)
    if k > 0:  # later start: crop the first k samples, reflect at the end
        return np.pad(x[..., k:], [*width, (0, k)], mode="reflect").astype(x.dtype, copy=False)
    return np.pad(x[..., :k], [*width, (-k, 0)], mode="reflect").astype(x.dtype, copy=False)


def mixup(x: np.ndarray, y: np.ndarray, x_other: np.ndarray, y_other: np.ndarray, rng: np.random.Generator,
          alpha: float = 0.2) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Mix two examples (Zhang et al. 2018): lam ~ Beta(alpha, alpha), x = lam x + (1 - lam) x_other, labels alike.

    `y`, `y_other` are one-hot or soft labels (..., classes); returns (x, y) with x's shape and dtype.
    """
    if x.shape != x_other.shape or np.shape(y) != np.shape(y_other):
        raise ConfigError(
            f"mixup needs two examples of one shape; got x {x.shape} / {x_other.shape}, y {np.shape(y)} / {np.shape(y_other)}"
        )
    lam = float(rng.beta(alpha, alpha))
    mixed = (lam * x + (1 - lam) * x_other).astype(x.dtype, copy=False)
    return mixed, (lam * np.asarray(y) + (1 - lam) * np.asarray(y_other)).astype(np.asarray(y).dtype, copy=False)


# name -> (function, name of its strength argument, its default): the config names an augmentation and one strength
AUGMENTATIONS: dict[str, tuple[str, float]] = {
    "scale": ("max_change", 0.2),
    "wander": ("amplitude", 0.1),
    "noise": ("snr_db", 20.0),
    "shift": ("max_fraction", 0.1),
    "mixup": ("alpha", 0.2),
}


@dataclass(frozen=True)
class SignalAugment:
    """One augmentation by name with its strength, applied with probability `p` (the thin wrapper a config builds)."""

    name: str
    strength: float | None = None
    p: float = 0.5

    def __post_init__(self) -> None:
        if self.name not in AUGMENTATIONS:
            raise ConfigError(f"augmentation {self.name!r}; valid: {', '.join(AUGMENTATIONS)}")
        if not 0 <= self.p <= 1:
            raise ConfigError(f"augmentation {self.name!r}: probability {self.p} must lie in [0, 1]")

    @property
    def value(self) -> float:
        return AUGMENTATIONS[self.name][1] if self.strength is None else float(self.strength)

    def __call__(self, x: np.ndarray, rng: np.random.Generator, sfreq_hz: float) -> np.ndarray:
        """x (..., time) -> same shape and dtype (mixup is applied by `SignalAugmenter`, which holds the partner)."""
        if self.name == "scale":
            return scale_amplitude(x, rng, self.value)
        if self.name == "wander":
            return baseline_wander(x, rng, sfreq_hz, self.value)
        if self.name == "noise":
            return gaussian_noise(x, rng, self.value)
        if self.name == "shift":
            return time_shift(x, rng, self.value)
        raise ConfigError("mixup mixes two examples: apply it through SignalAugmenter")


class SignalAugmenter:
    """Applies a list of augmentations to one training example at a time, seeded by one explicit generator."""

    def __init__(self, augments: Sequence[SignalAugment], sfreq_hz: float, seed: int) -> None:
        self.augments = list(augments)
        self.sfreq_hz = sfreq_hz
        self.rng = np.random.default_rng(seed)

    @property
    def mixes(self) -> SignalAugment | None:
        return next((a for a in self.augments if a.name == "mixup"), None)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x (..., time): each non-mixup augmentation with its probability, in order."""
        for aug in self.augments:
            if aug.name != "mixup" and self.rng.random() < aug.p:
                x = aug(x, self.rng, self.sfreq_hz)
        return x

    def mix(self, x: np.ndarray, y: np.ndarray, x_other: np.ndarray, y_other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mixup with the configured alpha and probability; (x, y) unchanged when it does not fire or is not configured."""
        aug = self.mixes
        if aug is None or self.rng.random() >= aug.p:
            return x, y
        return mixup(x, y, x_other, y_other, self.rng, aug.value)


def parse_augments(spec: Sequence[str]) -> list[SignalAugment]:
    """Augmentations from config strings 'name', 'name:strength' or 'name:strength:p' (e.g. 'noise:20', 'scale:0.2:0.5')."""
    out = []
    for item in spec:
        parts = str(item).split(":")
        try:
            strength = float(parts[1]) if len(parts) > 1 and parts[1] else None
            p = float(parts[2]) if len(parts) > 2 else 0.5
        except ValueError:
            raise ConfigError(f"augmentation {item!r}: expected 'name', 'name:strength' or 'name:strength:p' with numbers; "
                              f"names: {', '.join(AUGMENTATIONS)}") from None  # fmt: skip
        if len(parts) > 3:
            raise ConfigError(f"augmentation {item!r}: at most 'name:strength:p'")
        out.append(SignalAugment(parts[0], strength, p))
    return out
