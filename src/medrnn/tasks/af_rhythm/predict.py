"""Class probabilities of records, scored in batches of similar length (little padding) and returned in input order."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from medrnn.tasks.af_rhythm.data import AfDataset, AfRecords, collate_grid

BATCH_SIZE = 64


@torch.no_grad()
def predict_proba(model: nn.Module, records: AfRecords, num_classes: int, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Softmax probabilities (n, classes) float64 in the order of `records`; padding does not change a record's scores."""
    model.eval()
    out = np.zeros((len(records), num_classes))
    if len(records) == 0:
        return out
    dataset = AfDataset(records)
    order = np.argsort(records.lengths, kind="stable")
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        batch = collate_grid([dataset[int(i)] for i in index]).to(device)
        out[index] = torch.softmax(model(batch).logits.double(), dim=1).cpu().numpy()
    return out


__all__ = ["predict_proba"]
