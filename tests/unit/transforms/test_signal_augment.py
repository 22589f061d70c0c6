"""Signal augmentations: shape and dtype kept, seeded by an explicit generator, and each does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from medrnn.errors import ConfigError
from medrnn.transforms.signal_augment import (
    SignalAugmenter,
    baseline_wander,
    gaussian_noise,
    mixup,
    parse_augments,
    scale_amplitude,
    time_shift,
)

FS = 173.61
FUNCS = {
    "scale": lambda x, rng: scale_amplitude(x, rng, 0.2),
    "wander": lambda x, rng: baseline_wander(x, rng, FS, 0.2),
    "noise": lambda x, rng: gaussian_noise(x, rng, 10.0),
    "shift": lambda x, rng: time_shift(x, rng, 0.2),
}


def _signal(shape: tuple[int, ...] = (1, 694), dtype: type = np.float32) -> np.ndarray:
    t = np.arange(shape[-1]) / FS
    return np.broadcast_to(np.sin(2 * np.pi * 7 * t), shape).astype(dtype) + np.zeros(shape, dtype)


@pytest.mark.parametrize("name", list(FUNCS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(694,), (1, 694), (4, 2, 300)])
def test_shape_dtype_kept_and_seeded(name: str, dtype: type, shape: tuple[int, ...]) -> None:
    x = _signal(shape, dtype)
    a = FUNCS[name](x, np.random.default_rng(3))
    b = FUNCS[name](x, np.random.default_rng(3))
    assert a.shape == x.shape and a.dtype == x.dtype
    np.testing.assert_array_equal(a, b)
    assert np.isfinite(a).all()


def test_input_is_not_modified() -> None:
    x = _signal()
    before = x.copy()
    for f in FUNCS.values():
        f(x, np.random.default_rng(0))
    np.testing.assert_array_equal(x, before)


def test_noise_has_the_requested_snr() -> None:
    x = _signal((1, 200_000), np.float64)
    noisy = gaussian_noise(x, np.random.default_rng(0), snr_db=10.0)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((noisy - x) ** 2))
    assert abs(snr - 10.0) < 0.1


def test_scale_bounds_and_shift_moves_samples() -> None:
    x = _signal((50, 694), np.float64)
    gain = scale_amplitude(x, np.random.default_rng(0), 0.1)[:, 100] / x[:, 100]
    assert np.all((gain >= 0.9 - 1e-9) & (gain <= 1.1 + 1e-9))
    shifted = time_shift(np.arange(100.0), np.random.default_rng(1), 0.1)
    k = int(shifted[0])  # a later start: the first value is the shift
    assert shifted.shape == (100,) and (k == 0 or np.array_equal(shifted[: 100 - abs(k)], np.arange(abs(k), 100.0)) or shifted[abs(k)] == 0)


def test_mixup_mixes_labels_and_keeps_dtype() -> None:
    x1, x2 = np.zeros((1, 10), np.float32), np.ones((1, 10), np.float32)
    y1, y2 = np.array([1, 0], np.float32), np.array([0, 1], np.float32)
    x, y = mixup(x1, y1, x2, y2, np.random.default_rng(0), alpha=0.4)
    assert x.dtype == np.float32 and x.shape == (1, 10)
    np.testing.assert_allclose(y.sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(x[0, 0], y[1], rtol=1e-5)  # the weight of x2 is the weight of its class
    with pytest.raises(ConfigError, match="one shape"):
        mixup(x1, y1, np.ones((1, 11), np.float32), y2, np.random.default_rng(0))


def test_config_strings_and_augmenter_are_seeded() -> None:
    augs = parse_augments(["scale:0.3", "noise:15:1", "wander", "shift:0.05:0.5", "mixup:0.2"])
    assert [a.name for a in augs] == ["scale", "noise", "wander", "shift", "mixup"]
    assert augs[0].value == 0.3 and augs[1].p == 1.0 and augs[2].value == 0.1
    x = _signal()
    out = [SignalAugmenter(augs, FS, seed=5)(x) for _ in range(2)]
    np.testing.assert_array_equal(out[0], out[1])
    assert out[0].dtype == x.dtype and out[0].shape == x.shape
    for bad in (["flip"], ["noise:abc"], ["noise:1:2:3"], ["noise:20:1.5"]):
        with pytest.raises(ConfigError):
            parse_augments(bad)
