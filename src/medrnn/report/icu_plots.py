"""Figures of an ICU mortality run: ROC and precision-recall curves, and the reliability diagram with risk histograms.

Matplotlib Figures on an Agg canvas (like report/plots.py); one binary outcome per run (0 = survived, 1 = died).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from medrnn.errors import ShapeError
from medrnn.report.plots import _figure

SURVIVED_COLOR, DIED_COLOR = "#1f77b4", "#d62728"


def check_binary(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    """(n,) 0/1 outcomes and (n,) risks in [0, 1]; (n, 1) columns are accepted for a single outcome."""
    y, s = np.asarray(y_true, dtype=np.float64), np.asarray(y_score, dtype=np.float64)
    y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    s = s[:, 0] if s.ndim == 2 and s.shape[1] == 1 else s
    if y.ndim != 1 or s.shape != y.shape or y.size == 0:
        raise ShapeError(f"y_true {np.shape(y_true)} and y_score {np.shape(y_score)} must both be (n,) with n > 0: one outcome per stay")
    if not np.isin(y, (0, 1)).all():
        raise ShapeError(f"y_true must hold 0 (survived) or 1 (died); found values {np.unique(y)[:5].tolist()}")
    if not np.isfinite(s).all() or ((s < 0) | (s > 1)).any():
        raise ShapeError(f"y_score must be probabilities in [0, 1]; found range [{np.nanmin(s):.3g}, {np.nanmax(s):.3g}]")
    return y, s


def _both_classes(y: np.ndarray) -> bool:
    return 0 < y.sum() < y.size


def _title(base: str, estimate: str | None) -> str:
    return f"{base}\n{estimate}" if estimate else base


def plot_roc(y_true: Any, y_score: Any, outcome: str, estimate: str | None = None) -> Figure:
    """ROC curve of the test stays with the chance diagonal; `estimate` (e.g. 'AUROC 0.85 [0.80–0.89]') in the title."""
    y, s = check_binary(y_true, y_score)
    fig = _figure(5.0, 4.6)
    ax = fig.add_subplot()
    if _both_classes(y):
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, color=DIED_COLOR, label=f"{outcome} (AUROC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity (FPR)", ylabel="sensitivity (TPR)")
    ax.set_title(_title(f"ROC, {int(y.sum())} deaths of {y.size} test stays", estimate), fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_pr(y_true: Any, y_score: Any, outcome: str, estimate: str | None = None) -> Figure:
    """Precision-recall curve with the prevalence line (the precision of a random ranking)."""
    y, s = check_binary(y_true, y_score)
    fig = _figure(5.0, 4.6)
    ax = fig.add_subplot()
    if _both_classes(y):
        precision, recall, _ = precision_recall_curve(y, s)
        ax.step(recall, precision, where="post", color=DIED_COLOR, label=f"{outcome} (AUPRC {average_precision_score(y, s):.3f})")
    ax.axhline(y.mean(), color="grey", linestyle="--", linewidth=0.8, label=f"prevalence {y.mean():.3f}")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="sensitivity (recall)", ylabel="+P (precision)")
    ax.set_title(_title("Precision-recall", estimate), fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    return fig


def plot_reliability(
    predicted: Sequence[float], observed: Sequence[float], y_true: Any = None, y_score: Any = None, brier: float | None = None
) -> Figure:
    """Reliability diagram (mean predicted risk vs observed death rate per quantile bin, with the diagonal of
    perfect calibration) and, when the test predictions are given, a histogram of predicted risk by outcome."""
    p, o = np.asarray(predicted, dtype=np.float64), np.asarray(observed, dtype=np.float64)
    if p.ndim != 1 or p.shape != o.shape:
        raise ShapeError(f"reliability curve: predicted {p.shape} and observed {o.shape} must be 1-D of one length (one per bin)")
    with_hist = y_true is not None and y_score is not None
    fig = _figure(5.4, 6.4 if with_hist else 4.8)
    if with_hist:
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.4))
    else:
        top, bottom = fig.add_subplot(), None
    top.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="perfect calibration")
    top.plot(p, o, marker="o", color=DIED_COLOR, label=f"model ({p.size} quantile bins)")
    top.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed death rate")
    if bottom is None:
        top.set_xlabel("mean predicted risk in bin")
    top.set_title("Reliability" + (f", Brier {brier:.4f}" if brier is not None else ""), fontsize=10)
    top.legend(loc="upper left", fontsize=8)
    if bottom is not None:
        y, s = check_binary(y_true, y_score)
        bins = np.linspace(0, 1, 41)
        for value, name, color in ((0, "survived", SURVIVED_COLOR), (1, "died", DIED_COLOR)):
            chosen = s[y == value]
            bottom.hist(chosen, bins=bins, histtype="stepfilled", alpha=0.45, color=color, label=f"{name} (n={chosen.size})")
        bottom.set(xlabel="predicted risk", ylabel="test stays")
        bottom.legend(loc="upper right", fontsize=8)
    return fig


__all__ = ["check_binary", "plot_pr", "plot_reliability", "plot_roc"]
