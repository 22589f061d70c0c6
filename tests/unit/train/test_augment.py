"""Augmentations change the signal within their bounds, keep padding zero and never touch labels."""

from __future__ import annotations


import torch

from medrnn.data.batch import make_batch
from medrnn.train.augment import augment_batch, scale_amplitude, shift_time


def test_scale_amplitude_stays_within_bounds() -> None:
    torch.manual_seed(0)
    x = torch.ones(100, 5, 1)
    gains = scale_amplitude(x, 0.2)[:, 0, 0]
    assert gains.min() >= 0.8 and gains.max() <= 1.2 and gains.std() > 0.05


def test_shift_time_is_a_circular_shift() -> None:
    torch.manual_seed(0)
    x = torch.arange(10.0).repeat(20, 1).unsqueeze(-1)
    out = shift_time(x, 2)
    for row in out[:, :, 0]:
        shift = int((row[0] - 0) % 10)
        assert torch.equal(row, torch.roll(x[0, :, 0], -shift)) or torch.equal(row, torch.roll(x[0, :, 0], 10 - shift))


def test_augment_batch_keeps_labels_static_and_zero_padding() -> None:
    torch.manual_seed(0)
    lengths = torch.tensor([8, 5])
    batch = make_batch(torch.randn(2, 8, 1), y=torch.tensor([1, 2]), static=torch.randn(2, 3), lengths=lengths)
    out = augment_batch(batch)
    assert not torch.equal(out.x, batch.x)
    assert out.x[1, 5:].abs().sum() == 0
    assert torch.equal(out.y, batch.y) and torch.equal(out.static, batch.static)
