"""Volume augmentation (MONAI transforms + hand-written slice dropout): one draw per stack, seeded, each switch does what
it says, the outline channel keeps its vote counts and is never intensity-changed."""

from __future__ import annotations

import numpy as np
import pytest

from medrnn.errors import ConfigError, ShapeError
from medrnn.transforms.volume_augment import VolumeAugmenter, VolumeAugmentSettings, drop_slice

pytest.importorskip("monai")
OFF = VolumeAugmentSettings(flip=False, rotate_deg=0, intensity_scale=0, intensity_shift=0, slice_dropout=0)


def _stack(slices: int = 5, channels: int = 2, side: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(slices, channels, side, side)).astype(np.float32)
    if channels > 1:
        x[:, 1] = rng.integers(0, 5, size=(slices, side, side)) / 4  # an outline channel: votes / 4
    return x


def _dihedral(x: np.ndarray) -> list[np.ndarray]:
    turns = [np.rot90(x, k, axes=(-2, -1)) for k in range(4)]
    return turns + [t[..., ::-1] for t in turns] + [t[..., ::-1, :] for t in turns]


def test_all_off_is_the_identity_and_seeded_draws_repeat() -> None:
    x = _stack()
    assert np.array_equal(VolumeAugmenter(OFF, seed=0)(x), x)
    on = VolumeAugmentSettings(slice_dropout=0.5)
    a, b, c = VolumeAugmenter(on, 3), VolumeAugmenter(on, 3), VolumeAugmenter(on, 4)
    first = [a(x) for _ in range(6)]
    assert all(np.array_equal(p, q) for p, q in zip(first, [b(x) for _ in range(6)]))  # same seed: the same sequence
    assert not all(p.shape == q.shape and np.allclose(p, q) for p, q in zip(first, [c(x) for _ in range(6)]))
    assert all(p.dtype == np.float32 and p.shape[1:] == x.shape[1:] for p in first)


def test_flips_and_turns_move_every_slice_and_channel_alike() -> None:
    x = _stack()
    aug = VolumeAugmenter(VolumeAugmentSettings(**{**OFF.__dict__, "flip": True}), seed=1)
    seen = set()
    for _ in range(40):
        out = aug(x)
        match = [k for k, d in enumerate(_dihedral(x)) if np.array_equal(out, d)]
        assert match, "a flip/turn of the whole stack"
        seen.add(match[0])
    assert len(seen) >= 6  # the draws cover the turns and the flipped turns


def test_rotation_keeps_outline_votes_and_intensity_spares_the_outline() -> None:
    x = _stack()
    rot = VolumeAugmenter(VolumeAugmentSettings(**{**OFF.__dict__, "rotate_deg": 10.0}), seed=2)(x)
    assert rot.shape == x.shape and not np.allclose(rot[:, 0], x[:, 0])
    assert set(np.unique(rot[:, 1])) <= set(np.unique(x[:, 1]))  # nearest-neighbour: still votes / 4
    inten = VolumeAugmenter(VolumeAugmentSettings(**{**OFF.__dict__, "intensity_scale": 0.1, "intensity_shift": 0.1}), seed=2)
    out = inten(x)
    assert np.array_equal(out[:, 1], x[:, 1]) and not np.allclose(out[:, 0], x[:, 0])
    ratio = (out[:, 0] - out[0, 0, 0, 0]) / np.where(x[:, 0] == x[0, 0, 0, 0], 1, x[:, 0] - x[0, 0, 0, 0])
    assert np.all(np.abs(ratio[np.abs(x[:, 0] - x[0, 0, 0, 0]) > 0.1] - 1) <= 0.1 + 1e-4)  # one scale in 1 +- 0.1 per stack


def test_slice_dropout_removes_one_slice_never_the_last() -> None:
    x = _stack(slices=6)
    out = drop_slice(x, np.random.RandomState(0), 1.0)
    assert len(out) == 5 and any(np.array_equal(out, np.delete(x, k, axis=0)) for k in range(6))
    assert len(drop_slice(x[:1], np.random.RandomState(0), 1.0)) == 1
    assert len(drop_slice(x, np.random.RandomState(0), 0.0)) == 6
    aug = VolumeAugmenter(VolumeAugmentSettings(**{**OFF.__dict__, "slice_dropout": 0.5}), seed=0)
    lengths = [len(aug(x)) for _ in range(200)]
    assert set(lengths) == {5, 6} and 0.35 < lengths.count(5) / 200 < 0.65


def test_bad_settings_and_shapes_are_refused() -> None:
    with pytest.raises(ConfigError, match="slice_dropout"):
        VolumeAugmenter(VolumeAugmentSettings(slice_dropout=1.5), seed=0)
    with pytest.raises(ConfigError, match="intensity_scale"):
        VolumeAugmenter(VolumeAugmentSettings(intensity_scale=-0.1), seed=0)
    with pytest.raises(ShapeError, match=r"\(slices, channels"):
        VolumeAugmenter(VolumeAugmentSettings(), seed=0)(np.zeros((4, 12, 12), np.float32))
