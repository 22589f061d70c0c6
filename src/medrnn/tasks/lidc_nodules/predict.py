"""Nodule stacks as torch data (with this task's flips for training) and the one scoring loop: probabilities and each
nodule's slice attention, in order."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from medrnn.data.batch import collate


class SliceStacks(Dataset):
    """Item i -> (x (slices, channels*S*S), None, y, i); with `flip_seed`, a random flip/90-degree turn per access."""

    def __init__(self, xs: list[np.ndarray], y: np.ndarray, multiclass: bool, side: int, flip_seed: int | None = None) -> None:
        self.xs, self.side, self.multiclass = xs, side, multiclass
        self.y = np.asarray(y, dtype=np.int64 if multiclass else np.float32)
        self.rng = None if flip_seed is None else np.random.default_rng(flip_seed)

    def __len__(self) -> int:
        return len(self.xs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, None, torch.Tensor, int]:
        x = self.xs[i]
        if self.rng is not None:  # one draw for the whole nodule: its slices stay aligned
            img = x.reshape(x.shape[0], -1, self.side, self.side)
            img = np.rot90(img, int(self.rng.integers(4)), axes=(2, 3))
            if self.rng.random() < 0.5:
                img = img[..., ::-1]
            x = np.ascontiguousarray(img).reshape(x.shape)
        y = torch.tensor(self.y[i]) if self.multiclass else torch.tensor(self.y[i : i + 1])
        return torch.from_numpy(np.ascontiguousarray(x)), None, y, i


@torch.no_grad()
def score_stacks(model: nn.Module, xs: list[np.ndarray], multiclass: bool, side: int,
                 batch_size: int = 64) -> tuple[np.ndarray, list[np.ndarray]]:  # fmt: skip
    """(probabilities (n, outputs) float64, slice attention per nodule (its kept slices,)), in order."""
    model.eval()
    device = next(model.parameters()).device
    loader = DataLoader(SliceStacks(xs, np.zeros(len(xs)), multiclass, side), batch_size=batch_size, shuffle=False, collate_fn=collate)
    probs, attention = [], []
    for batch in loader:
        out = model(batch.to(device))
        probs.append((torch.softmax(out.logits, dim=-1) if multiclass else torch.sigmoid(out.logits)).double().cpu())
        if out.attention is not None:
            attention += [a[:n].double().cpu().numpy() for a, n in zip(out.attention, batch.lengths.tolist())]
    return torch.cat(probs).numpy(), attention


__all__ = ["SliceStacks", "score_stacks"]
