"""Class probabilities for fixed-length beat windows, batched."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medrnn.data.batch import make_batch


@torch.no_grad()
def predict_proba(
    model: nn.Module, x: np.ndarray, static: np.ndarray | None = None, batch_size: int = 1024, device: torch.device | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class probabilities (n, classes) and attention (n, time') for fixed-length inputs x (n, time, features)."""
    device = device or next(model.parameters()).device
    model.eval()
    probs, attention = [], []
    for i in range(0, x.shape[0], batch_size):
        xb = torch.as_tensor(x[i : i + batch_size], device=device)
        sb = None if static is None else torch.as_tensor(static[i : i + batch_size], device=device)
        out = model(make_batch(xb, static=sb))
        probs.append(torch.softmax(out.logits, dim=-1).cpu().numpy())
        if out.attention is not None:
            attention.append(out.attention.cpu().numpy())
    if not probs:
        return np.zeros((0, model.config.get("num_classes", 0) if hasattr(model, "config") else 0)), None
    return np.concatenate(probs), (np.concatenate(attention) if attention else None)
