"""Batched, in-order sigmoid scoring of a dataset: the inference loop of every task whose outputs are independent
probabilities (ICU stays, coded visits)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from medrnn.data.batch import collate


@torch.no_grad()
def predict_sigmoid(model: nn.Module, dataset: Dataset, batch_size: int = 256) -> np.ndarray:
    """Independent probabilities (n, outputs) float64 for every item of `dataset`, in order (batches through `collate`)."""
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    device = next(model.parameters()).device
    return torch.cat([torch.sigmoid(model(b.to(device)).logits).cpu() for b in loader]).numpy().astype(np.float64)
