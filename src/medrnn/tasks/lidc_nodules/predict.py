"""Nodule stacks as torch data (`SliceStacks`: the generic `VolumeStacks`, augmented in training) and the one scoring
loop: probabilities (or ratings) and each nodule's slice attention, in order."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn.data.batch import collate
from medrnn.data.volumes import VolumeStacks

SliceStacks = VolumeStacks  # the name this world's tests and callers know


@torch.no_grad()
def score_stacks(model: nn.Module, xs: list[np.ndarray], output_kind: str, side: int,
                 batch_size: int = 64) -> tuple[np.ndarray, list[np.ndarray]]:  # fmt: skip
    """(scores (n, outputs) float64: probabilities, or the raw output for regression; slice attention per nodule (its
    kept slices,), empty when the model has none), in order."""
    model.eval()
    device = next(model.parameters()).device
    multiclass = output_kind == "multiclass"
    loader = DataLoader(VolumeStacks(xs, np.zeros(len(xs)), multiclass, side), batch_size=batch_size, shuffle=False, collate_fn=collate)
    scores, attention = [], []
    for batch in loader:
        out = model(batch.to(device))
        if multiclass:
            scores.append(torch.softmax(out.logits, dim=-1).double().cpu())
        else:
            scores.append((out.logits if output_kind == "regression" else torch.sigmoid(out.logits)).double().cpu())
        if out.attention is not None:
            attention += [a[:n].double().cpu().numpy() for a, n in zip(out.attention, batch.lengths.tolist())]
    return torch.cat(scores).numpy(), attention


__all__ = ["SliceStacks", "score_stacks"]
