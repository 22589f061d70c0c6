"""Curves of any run with sigmoid or regression outputs: per-output ROC/PR, parity and residual plots, and the
reliability diagram. Every output is drawn on its labelled samples only (NaN = missing label)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from medrnn.errors import ShapeError
from medrnn.report.plots import class_colors, new_figure

MAX_PLOT_TASKS = 12


def _check(y_true: Any, y_score: Any, task_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n, n_tasks) float arrays matching the task names (1-D accepted for one task)."""
    y, s = np.asarray(y_true, dtype=np.float64), np.asarray(y_score, dtype=np.float64)
    y = y[:, None] if y.ndim == 1 else y
    s = s[:, None] if s.ndim == 1 else s
    if y.ndim != 2 or s.shape != y.shape or y.shape[1] != len(task_names):
        raise ShapeError(
            f"y_true {np.shape(y_true)} and y_score {np.shape(y_score)} must both be (n, {len(task_names)}) "
            f"for tasks {list(task_names)[:5]}"
        )
    return y, s


def _short(name: str, limit: int = 32) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _scorable(y: np.ndarray, task_names: Sequence[str]) -> list[tuple[int, str, np.ndarray]]:
    """(column, name, labelled mask) of the tasks with both classes among their labelled molecules."""
    out = []
    for t, name in enumerate(task_names):
        keep = ~np.isnan(y[:, t])
        if keep.any() and 0 < np.nansum(y[keep, t]) < keep.sum():
            out.append((t, str(name), keep))
    return out


def plot_task_curves(
    y_true: Any, y_score: Any, task_names: Sequence[str], kind: str, mean: float | None = None
) -> Figure:
    """ROC (kind="roc") or precision-recall (kind="pr") curve per task, up to MAX_PLOT_TASKS on one axes.

    `mean` is the report's mean AUROC/AUPRC over all scored tasks, stated in the title.
    """
    y, s = _check(y_true, y_score, task_names)
    tasks = _scorable(y, task_names)
    shown = tasks[:MAX_PLOT_TASKS]
    fig = new_figure(6.2, 5.0)
    ax = fig.add_subplot()
    for k, ((t, name, keep), color) in enumerate(zip(shown, class_colors(len(shown)))):
        yt, st = y[keep, t], s[keep, t]
        style = "-" if k < 10 else "--"  # tab10 repeats after ten tasks
        if kind == "roc":
            fpr, tpr, _ = roc_curve(yt, st)
            ax.plot(fpr, tpr, color=color, linestyle=style, label=f"{_short(name)} ({roc_auc_score(yt, st):.3f})")
        else:
            precision, recall, _ = precision_recall_curve(yt, st)
            label = f"{_short(name)} ({average_precision_score(yt, st):.3f}, prev. {yt.mean():.2f})"
            ax.step(recall, precision, where="post", color=color, linestyle=style, label=label)
    metric = "AUROC" if kind == "roc" else "AUPRC"
    if kind == "roc":
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
        ax.set(xlabel="1 - specificity (FPR)", ylabel="sensitivity (TPR)")
    else:
        ax.set(xlabel="recall", ylabel="precision")
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    title = f"{'ROC' if kind == 'roc' else 'Precision-recall'}"
    if len(tasks) > len(shown):
        title += f", first {len(shown)} of {len(tasks)} scored tasks"
    if mean is not None:
        title += f"\nmean {metric} over {len(tasks)} scored task{'s' if len(tasks) != 1 else ''}: {mean:.3f}"
    ax.set_title(title, fontsize=10)
    if shown:
        ax.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=7, title=metric,
                  title_fontsize=7)  # fmt: skip
    return fig


def _grid(n: int) -> tuple[Figure, list[Any]]:
    """A figure with one small axes per task (at most 3 columns)."""
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = new_figure(3.4 * cols + 0.4, 3.1 * rows + 0.3)
    return fig, [fig.add_subplot(rows, cols, k + 1) for k in range(n)]


def _labelled(y: np.ndarray, task_names: Sequence[str]) -> list[tuple[int, str, np.ndarray]]:
    """(column, name, labelled mask) of the first MAX_PLOT_TASKS tasks with at least one label."""
    out = [(t, str(n), ~np.isnan(y[:, t])) for t, n in enumerate(task_names) if (~np.isnan(y[:, t])).any()]
    return out[:MAX_PLOT_TASKS]


def plot_parity(y_true: Any, y_score: Any, task_names: Sequence[str]) -> Figure:
    """Predicted vs measured per task (original units) with the y = x line; RMSE and n in each title."""
    y, s = _check(y_true, y_score, task_names)
    tasks = _labelled(y, task_names)
    fig, axes = _grid(max(1, len(tasks)))
    for ax, (t, name, keep) in zip(axes, tasks):
        yt, st = y[keep, t], s[keep, t]
        lo, hi = float(min(yt.min(), st.min())), float(max(yt.max(), st.max()))
        pad = 0.05 * (hi - lo or 1.0)
        ax.scatter(yt, st, s=9, alpha=0.55, color="#1f77b4", edgecolors="none")
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linestyle="--", linewidth=0.8)
        ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), xlabel="measured", ylabel="predicted")
        rmse = float(np.sqrt(np.mean((st - yt) ** 2)))
        ax.set_title(f"{_short(name, 28)}\nRMSE {rmse:.3f} (n={keep.sum()})", fontsize=9)
    return fig


def plot_residuals(y_true: Any, y_score: Any, task_names: Sequence[str]) -> Figure:
    """Histogram of residuals (predicted - measured) per task on its labelled molecules."""
    y, s = _check(y_true, y_score, task_names)
    tasks = _labelled(y, task_names)
    fig, axes = _grid(max(1, len(tasks)))
    for ax, (t, name, keep) in zip(axes, tasks):
        residual = s[keep, t] - y[keep, t]
        ax.hist(residual, bins=min(40, max(5, int(np.sqrt(residual.size)))), color="#1f77b4", alpha=0.8)
        ax.axvline(0, color="black", linestyle="--", linewidth=0.8, zorder=3)
        ax.set(xlabel="predicted - measured", ylabel="molecules")
        ax.set_title(f"{_short(name, 28)}\nmean {residual.mean():+.3f}, sd {residual.std():.3f}", fontsize=9)
    return fig


def plot_reliability(curve: dict[str, Any], ece: float | None = None, brier: float | None = None, of: str = "") -> Figure:
    """Reliability diagram: mean predicted probability vs observed frequency per bin, with the diagonal of calibration."""
    p = np.asarray(curve.get("predicted", []), dtype=np.float64)
    o = np.asarray(curve.get("observed", []), dtype=np.float64)
    if p.ndim != 1 or p.shape != o.shape:
        raise ShapeError(f"reliability curve: predicted {p.shape} and observed {o.shape} must be 1-D of one length (one per bin)")
    fig = new_figure(5.0, 4.6)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="perfect calibration")
    ax.plot(p, o, marker="o", color="#d62728", label=f"model ({p.size} {curve.get('strategy', 'quantile')} bins)")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability in bin", ylabel="observed frequency")
    parts = [f"ECE {ece:.3f}" if ece is not None else "", f"Brier {brier:.4f}" if brier is not None else ""]
    ax.set_title("Reliability" + (": " + ", ".join(x for x in parts if x) if any(parts) else "") + (f"\n{of}" if of else ""), fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    return fig
