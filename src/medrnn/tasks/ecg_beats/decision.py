"""Per-class decision weights tuned on validation records: the predicted class is argmax_c(w_c * p_c), with w chosen to
maximise jκ on the validation beats (coordinate search over a log grid, N's weight fixed at 1). Plain argmax is w = 1.

Only the validation records' labels are read: the inter-patient protocol leaves DS2 untouched until the final score."""

from __future__ import annotations

import numpy as np

from medrnn.metrics import confusion, scores_from_confusion

GRID = np.exp(np.linspace(-3.0, 3.0, 31))  # weights from 0.05 to 20


def jkappa_of(y: np.ndarray, pred: np.ndarray, names: list[str]) -> float:
    """jκ of predictions `pred` against labels `y` (nan when undefined)."""
    value = scores_from_confusion(confusion(y, pred, len(names)), names)["overall"]["jkappa"]
    return float("nan") if value is None else float(value)


def decide(probs: np.ndarray, weights: list[float] | np.ndarray | None) -> np.ndarray:
    """Predicted class per row: argmax of the weighted probabilities (plain argmax when weights is None)."""
    probs = np.asarray(probs)
    return probs.argmax(axis=1) if weights is None else (probs * np.asarray(weights)[None, :]).argmax(axis=1)


def tune_weights(y: np.ndarray, probs: np.ndarray, names: list[str], rounds: int = 3) -> tuple[list[float], float, float]:
    """(weights, validation jκ with them, validation jκ of plain argmax); classes absent from `y` keep weight 1."""
    y = np.asarray(y, dtype=np.int64)
    weights = np.ones(len(names))
    base = jkappa_of(y, decide(probs, None), names)
    best = base
    tunable = [c for c in range(1, len(names)) if (y == c).any()]
    for _ in range(rounds):
        improved = False
        for c in tunable:
            for g in GRID:
                trial = weights.copy()
                trial[c] = g
                score = jkappa_of(y, decide(probs, trial), names)
                if score > best + 1e-9:
                    best, weights, improved = score, trial, True
        if not improved:
            break
    return [float(w) for w in weights], best, base


__all__ = ["decide", "jkappa_of", "tune_weights"]
