"""What patient adaptation (`fewshot/patient.py`) reads of the beat world: every beat of a record, its class, the
model's probabilities and encoder features, in time order within each record."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from medrnn.data.batch import make_batch
from medrnn.fewshot.patient import PatientItems
from medrnn.tasks.base import InputItem, TaskData


@torch.no_grad()
def encode_beats(model: nn.Module, x: np.ndarray, static: np.ndarray | None, batch_size: int = 1024) -> np.ndarray:
    """Encoder features (n, f) of fixed-length beats (the model's `encode`, eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch_size):
        sb = None if static is None else torch.as_tensor(static[i : i + batch_size], device=device)
        out.append(model.encode(make_batch(torch.as_tensor(x[i : i + batch_size], device=device), static=sb)).features.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def beat_items(task: Any, predictor: Any, data: TaskData, index: np.ndarray) -> PatientItems:
    """The beats at `index`: truth, the predictor's probabilities, encoder features, records, sorted by record then sample."""
    beats = task.subset(data, index)
    x = predictor.pipeline.inputs(beats)  # what the model reads: windows, or each beat's neighbourhood (rhythm model)
    features = encode_beats(predictor.model, x, predictor.pipeline.static(beats))
    probs = predictor.score(InputItem("beats", beats)).values
    return PatientItems(beats.y, probs, features, beats.record, np.lexsort((beats.sample, beats.record)))
