"""The molecules task's validation loss: the training loss applied to final (test-time-averaged) predictions -- mean
BCE of the probabilities over labelled entries, or MSE in the training split's standardised units (regression).
MoleculeNet's headline "medrnn" picks, per split, the candidate with the lowest (`medrnn choose`, medrnn.selection).
"""

from __future__ import annotations

import numpy as np

from medrnn.errors import ConfigError
from medrnn.tasks.base import mean_bce
from medrnn.transforms.standardize import Standardizer


def loss_of_scores(y: np.ndarray, scores: np.ndarray, task_type: str, scaler: Standardizer | None) -> float:
    """BCE of probabilities, or MSE in standardised units (`scaler`: the training split's), over labelled entries."""
    if task_type == "classification":
        return mean_bce(y, scores)
    mask = ~np.isnan(y)
    if scaler is None:
        raise ConfigError("regression validation loss needs the training target scaler (pipeline.scaler)")
    diff = scaler.transform(scores.astype(np.float32)) - scaler.transform(np.nan_to_num(y).astype(np.float32))
    return float(np.mean(diff[mask] ** 2))
