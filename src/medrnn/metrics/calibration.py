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


def calibration_summary(y_true: Any, y_score: Any, output_kind: str, n_bins: int = 15) -> dict[str, Any] | None:
    """ECE (torchmetrics, `n_bins` equal-width bins), Brier score and the reliability curve of a test set; None for regression.

    multiclass: the top-label confidence against correctness (ECE) and the multiclass Brier score (sum over classes);
    binary and multilabel: every labelled (sample, output) pair pooled (NaN labels = missing are left out).
    """
    import torch
    from torchmetrics.functional.classification import binary_calibration_error, multiclass_calibration_error

    if output_kind == "regression":
        return None
    s = np.asarray(y_score, dtype=np.float64)
    if output_kind == "multiclass":
        y = np.asarray(y_true, dtype=np.int64).ravel()
        if s.ndim != 2 or s.shape[0] != y.shape[0]:
            raise ShapeError(f"multiclass calibration needs y (n,) and probabilities (n, classes), got {y.shape} and {s.shape}")
        if y.size == 0:
            return None
        ece = float(multiclass_calibration_error(torch.from_numpy(s), torch.from_numpy(y), num_classes=s.shape[1], n_bins=n_bins))
        brier = float(np.mean(np.sum((s - np.eye(s.shape[1])[y]) ** 2, axis=1)))
        top = s.max(axis=1)
        correct = (s.argmax(axis=1) == y).astype(np.float64)
        base = calibration_report(correct, top, n_bins=10)
        return {"ece": ece, "brier": brier, "of": "top-label confidence vs correctness", "n": int(y.size),
                "reliability": base["reliability"], "accuracy": float(correct.mean())}  # fmt: skip
    y = np.asarray(y_true, dtype=np.float64).reshape(s.shape)
    keep = ~np.isnan(y)
    yk, sk = y[keep], s[keep]
    if yk.size == 0 or len(np.unique(yk)) < 2:
        return None
    ece = float(binary_calibration_error(torch.from_numpy(sk), torch.from_numpy(yk.astype(np.int64)), n_bins=n_bins))
    report = calibration_report(yk, sk, n_bins=10)
    of = "every labelled (sample, output) pair, pooled" if s.shape[1] > 1 else "the positive-class probability"
    return {"ece": ece, **report, "of": of, "n": int(yk.size)}
