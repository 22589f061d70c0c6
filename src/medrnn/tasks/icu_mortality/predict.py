"""Risk of the outcome for stays already turned into model input, batched in order (training evaluation and Predictor)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medrnn.data.batch import SequenceDataset
from medrnn.data.inference import predict_sigmoid


@torch.no_grad()
def predict_risk(model: nn.Module, x: np.ndarray, static: np.ndarray, batch_size: int = 256,
                 present: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Sigmoid probabilities (n, 1) float64 for model input x (n, time, 3V), descriptors (n, s) and which of the two a
    stay has (n, 2), in order.

    Batches of 256 through `collate`, as the ICU runs were always scored, so the numbers match them bit for bit.
    """
    model.eval()
    if x.shape[0] == 0:
        return np.zeros((0, 1))
    dataset = SequenceDataset(x, np.zeros(x.shape[0], dtype=np.float32), static, present)  # y unused: scores only
    return predict_sigmoid(model, dataset, batch_size)


__all__ = ["predict_risk"]
