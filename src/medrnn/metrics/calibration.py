"""Calibration of predicted probabilities: Brier score and the reliability curve (sklearn does the binning)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from medrnn.errors import ShapeError


def calibration_report(y_true: Any, prob: Any, n_bins: int = 10) -> dict[str, Any]:
    """Brier score, and per quantile bin the mean predicted risk vs the observed rate (the reliability curve)."""
    y, p = np.asarray(y_true, dtype=np.float64).ravel(), np.asarray(prob, dtype=np.float64).ravel()
    if y.shape != p.shape or not np.isin(y, (0, 1)).all() or ((p < 0) | (p > 1)).any():
        raise ShapeError(f"calibration needs 0/1 labels and probabilities in [0, 1] of one shape, got {y.shape} and {p.shape}")
    observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    curve = {"predicted": predicted.tolist(), "observed": observed.tolist(), "strategy": "quantile", "n_bins": n_bins}
    return {"brier": float(brier_score_loss(y, p)), "base_rate": float(y.mean()), "reliability": curve}
