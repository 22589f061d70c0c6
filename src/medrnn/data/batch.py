"""Batch type and collate: padding is explicit, `mask` is True on real steps."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset


class Batch(NamedTuple):
    """x (batch, time, features), lengths (batch,), mask (batch, time), y (batch,), ids (batch,), static (batch, f),
    present (batch, modalities) 0/1 for fusion models (None: every modality present, or derived by the model)."""

    x: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor
    y: torch.Tensor | None = None
    ids: torch.Tensor | None = None
    static: torch.Tensor | None = None
    present: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(*(t.to(device) if isinstance(t, torch.Tensor) else t for t in self))


def make_batch(
    x: torch.Tensor, y: torch.Tensor | None = None, static: torch.Tensor | None = None, lengths: torch.Tensor | None = None,
    present: torch.Tensor | None = None,
) -> Batch:
    """Batch from already padded x; lengths default to the full time axis."""
    n, t = x.shape[:2]
    if lengths is None:
        lengths = torch.full((n,), t, dtype=torch.long, device=x.device)
    mask = torch.arange(t, device=x.device)[None, :] < lengths[:, None]
    return Batch(x, lengths, mask, y, torch.arange(n, device=x.device), static, present)


class BeatDataset(Dataset):
    """Fixed-length beat windows (+ RR context) as tensors; item i -> (x, static, y, i)."""

    def __init__(self, x: np.ndarray, static: np.ndarray | None, y: np.ndarray) -> None:
        self.x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        self.static = None if static is None else torch.from_numpy(np.ascontiguousarray(static, dtype=np.float32))
        self.y = torch.from_numpy(np.asarray(y, dtype=np.int64))

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, int]:
        return self.x[i], None if self.static is None else self.static[i], self.y[i], i


class SequenceDataset(Dataset):
    """Float targets for sigmoid/BCE tasks; item i -> (x_i (time, features), static_i or None, y_i (outputs,), i[, present_i]).

    `xs` is a padded array (n, time, features) or a list of variable-length tensors (collate pads them); `present`
    (n, modalities) 0/1 says which of a sample's modalities it has (fusion models), None = not tracked.
    """

    def __init__(self, xs: np.ndarray | list[torch.Tensor], y: np.ndarray, static: np.ndarray | None = None,
                 present: np.ndarray | None = None) -> None:  # fmt: skip
        self.x = torch.from_numpy(np.ascontiguousarray(xs, dtype=np.float32)) if isinstance(xs, np.ndarray) else list(xs)
        self.static = None if static is None else torch.from_numpy(np.ascontiguousarray(static, dtype=np.float32))
        self.y = torch.from_numpy(np.asarray(y, dtype=np.float32).reshape(len(self.x), -1))
        self.present = None if present is None else torch.from_numpy(np.ascontiguousarray(present, dtype=np.float32))

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, i: int) -> tuple:
        item = (self.x[i], None if self.static is None else self.static[i], self.y[i], i)
        return item if self.present is None else (*item, self.present[i])


def collate(items: list[tuple]) -> Batch:
    """Stack (x, static, y, i[, present]) items into a Batch, padding variable-length x with zeros at the end."""
    xs = [it[0] for it in items]
    lengths = torch.tensor([x.shape[0] for x in xs], dtype=torch.long)
    x = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    static = None if items[0][1] is None else torch.stack([it[1] for it in items])
    y = torch.stack([it[2] for it in items])
    ids = torch.tensor([it[3] for it in items], dtype=torch.long)
    present = torch.stack([it[4] for it in items]) if len(items[0]) > 4 else None
    return Batch(x, lengths, mask, y, ids, static, present)
