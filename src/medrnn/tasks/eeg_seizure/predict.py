"""Class probabilities of fixed-length EEG windows, batched; training batches with this task's augmentations."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from medrnn.data.batch import make_batch
from medrnn.transforms.signal_augment import SignalAugmenter


@torch.no_grad()
def predict_proba(model: nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Probabilities (n, classes) for windows x (n, time, 1)."""
    device = next(model.parameters()).device
    model.eval()
    probs = []
    for i in range(0, x.shape[0], batch_size):
        out = model(make_batch(torch.as_tensor(x[i : i + batch_size], device=device)))
        probs.append(torch.softmax(out.logits, dim=-1).cpu().numpy())
    n_classes = model.config.get("num_classes", 0) if hasattr(model, "config") else 0
    return np.concatenate(probs) if probs else np.zeros((0, n_classes))


class AugmentedWindows(Dataset):
    """Training windows, augmented on access with one seeded generator (deterministic with num_workers=0).

    Without mixup an item is (x (time, 1), None, class, i); with mixup the label is a soft (classes,) vector, which
    the cross-entropy of the generic module takes as class probabilities.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, num_classes: int, augmenter: SignalAugmenter | None) -> None:
        self.x, self.y, self.num_classes, self.augmenter = x, np.asarray(y, dtype=np.int64), num_classes, augmenter
        self.soft = augmenter is not None and augmenter.mixes is not None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, None, torch.Tensor, int]:
        x = self.x[i].T  # (1, time): augmentations work on the last axis
        if self.augmenter is None:
            return torch.from_numpy(np.ascontiguousarray(x.T)), None, torch.tensor(self.y[i]), i
        x = self.augmenter(x)
        if not self.soft:
            return torch.from_numpy(np.ascontiguousarray(x.T)), None, torch.tensor(self.y[i]), i
        y = np.eye(self.num_classes, dtype=np.float32)[self.y[i]]
        j = int(self.augmenter.rng.integers(len(self.y)))
        x, y = self.augmenter.mix(x, y, self.x[j].T, np.eye(self.num_classes, dtype=np.float32)[self.y[j]])
        return torch.from_numpy(np.ascontiguousarray(x.T)), None, torch.from_numpy(y), i
