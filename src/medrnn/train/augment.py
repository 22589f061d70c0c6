"""Signal augmentation applied on the fly to training batches (on the batch's device, seeded by Lightning)."""

from __future__ import annotations

import torch

from medrnn.data.batch import Batch


def scale_amplitude(x: torch.Tensor, max_change: float) -> torch.Tensor:
    """Multiply each sequence by a gain drawn from [1 - max_change, 1 + max_change] (electrode gain differs by patient)."""
    gain = 1 + (torch.rand(x.shape[0], 1, 1, device=x.device) * 2 - 1) * max_change
    return x * gain


def add_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """Additive white noise (muscle artefact, quantisation)."""
    return x + torch.randn_like(x) * std


def shift_time(x: torch.Tensor, max_steps: int) -> torch.Tensor:
    """Circularly shift each sequence by up to +-max_steps (R-peak annotation jitter)."""
    if max_steps <= 0:
        return x
    shifts = torch.randint(-max_steps, max_steps + 1, (x.shape[0],), device=x.device)
    index = (torch.arange(x.shape[1], device=x.device)[None, :] - shifts[:, None]) % x.shape[1]
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


def augment_batch(batch: Batch, scale: float = 0.15, noise_std: float = 0.05, max_shift: int = 3) -> Batch:
    """Gain, noise and jitter on x of a fixed-length batch; the RR context and labels are untouched."""
    x = shift_time(add_noise(scale_amplitude(batch.x, scale), noise_std), max_shift)
    return batch._replace(x=x * batch.mask.unsqueeze(-1))
