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
from medrnn.report.numbers import sig
from medrnn.report.plots import WIDE_IN, class_colors, legend_panel, new_figure

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


def plot_task_roc_pr(y_true: Any, y_score: Any, task_names: Sequence[str], means: tuple[float | None, float | None] = (None, None),
                     display: dict[str, str] | None = None) -> Figure:  # fmt: skip
    """ROC and precision-recall curves side by side, one colour per output (up to MAX_PLOT_TASKS), with one legend
    beside them: AUROC, AUPRC and prevalence per output on its labelled samples. `means` are the report's mean AUROC
    and AUPRC over every scored output, stated in the titles. Dotted PR lines: each output's prevalence."""
    y, s = _check(y_true, y_score, task_names)
    tasks = _scorable(y, task_names)
    shown = tasks[:MAX_PLOT_TASKS]
    display = display or {}
    fig = new_figure(WIDE_IN, 4.3)
    ax_roc, ax_pr, ax_legend = fig.subplots(1, 3, width_ratios=[1, 1, 0.8])
    handles, labels = [], []
    for k, ((t, name, keep), color) in enumerate(zip(shown, class_colors(len(shown)))):
        yt, st = y[keep, t], s[keep, t]
        style = "-" if k < 10 else "--"  # tab10 repeats after ten outputs
        fpr, tpr, _ = roc_curve(yt, st)
        (line,) = ax_roc.plot(fpr, tpr, color=color, linestyle=style, linewidth=1.4)
        precision, recall, _ = precision_recall_curve(yt, st)
        ax_pr.step(recall, precision, where="post", color=color, linestyle=style, linewidth=1.4)
        ax_pr.axhline(yt.mean(), color=color, linestyle=":", linewidth=0.9)
        handles.append(line)
        labels.append(f"{_short(display.get(name, name))}: AUROC {sig(roc_auc_score(yt, st))}, AUPRC "
                      f"{sig(average_precision_score(yt, st))}\n   {int(yt.sum()):,} of {yt.size:,} positive ({100 * yt.mean():.2g}%)")  # fmt: skip
    (chance,) = ax_roc.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    handles.append(chance)
    labels.append("chance (ROC); dotted: prevalence (PR)")
    more = f", first {len(shown)} of {len(tasks)} scored outputs" if len(tasks) > len(shown) else ""
    for ax, name, mean, (xl, yl) in ((ax_roc, "ROC", means[0], ("1 − specificity (FPR)", "sensitivity (TPR)")),
                                     (ax_pr, "Precision-recall", means[1], ("recall", "precision"))):  # fmt: skip
        title = name + more
        if mean is not None and len(tasks) > 1:
            title += f"\nmean {'AUROC' if name == 'ROC' else 'AUPRC'} over {len(tasks)} scored outputs: {sig(mean)}"
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel=xl, ylabel=yl)
        ax.set_title(title, fontsize=10)
        ax.set_box_aspect(1)
        ax.grid(color="#eee", linewidth=0.6)
    legend_panel(fig, ax_legend, handles, labels, "output")
    return fig


def _grid(n: int) -> tuple[Figure, list[Any]]:
    """A full-width figure with one square axes per task (at most 3 columns)."""
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = new_figure(WIDE_IN, min(WIDE_IN / cols, 4.4) * rows + 0.3)
    axes = [fig.add_subplot(rows, cols, k + 1) for k in range(n)]
    for ax in axes:
        ax.set_box_aspect(1)
    return fig, axes


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
        _parity(ax, y[keep, t], s[keep, t], name)
    return fig


def plot_residuals(y_true: Any, y_score: Any, task_names: Sequence[str]) -> Figure:
    """Histogram of residuals (predicted - measured) per task on its labelled molecules."""
    y, s = _check(y_true, y_score, task_names)
    tasks = _labelled(y, task_names)
    fig, axes = _grid(max(1, len(tasks)))
    for ax, (t, name, keep) in zip(axes, tasks):
        _residuals(ax, s[keep, t] - y[keep, t], name)
    return fig


def plot_parity_residuals(y_true: Any, y_score: Any, task_names: Sequence[str]) -> Figure:
    """One row per task (at most 3): the parity plot and the residual histogram side by side, full width."""
    y, s = _check(y_true, y_score, task_names)
    tasks = _labelled(y, task_names)[:3]
    fig = new_figure(WIDE_IN, 4.6 * max(1, len(tasks)))
    axes = fig.subplots(max(1, len(tasks)), 2, squeeze=False)
    for row, (t, name, keep) in zip(axes, tasks):
        _parity(row[0], y[keep, t], s[keep, t], name)
        _residuals(row[1], s[keep, t] - y[keep, t], name)
        for ax in row:
            ax.set_box_aspect(1)
    return fig


def _parity(ax: Any, yt: np.ndarray, st: np.ndarray, name: str) -> None:
    lo, hi = float(min(yt.min(), st.min())), float(max(yt.max(), st.max()))
    pad = 0.05 * (hi - lo or 1.0)
    ax.scatter(yt, st, s=12, alpha=0.6, color="#1f77b4", edgecolors="none")
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="grey", linestyle="--", linewidth=0.8)
    ax.set(xlim=(lo - pad, hi + pad), ylim=(lo - pad, hi + pad), xlabel="measured", ylabel="predicted")
    ax.grid(color="#eee", linewidth=0.6)
    rmse = float(np.sqrt(np.mean((st - yt) ** 2)))
    ax.set_title(f"{_short(name, 28)}: predicted vs measured (dashed: y = x)\nRMSE {rmse:.3g}, n = {yt.size:,}", fontsize=9)


def _residuals(ax: Any, residual: np.ndarray, name: str) -> None:
    ax.hist(residual, bins=min(40, max(5, int(np.sqrt(residual.size)))), color="#1f77b4", alpha=0.8)
    ax.axvline(0, color="black", linestyle="--", linewidth=0.8, zorder=3)
    ax.set(xlabel="predicted − measured", ylabel="samples")
    ax.set_title(f"{_short(name, 28)}: residuals\nmean {residual.mean():+.3g}, SD {residual.std():.3g}", fontsize=9)


def plot_reliability(curve: dict[str, Any], ece: float | None = None, brier: float | None = None, of: str = "",
                     probabilities: Any = None, outcomes: Any = None, outcome_names: tuple[str, str] = ("negative", "positive"),
                     before: dict[str, Any] | None = None) -> Figure:  # fmt: skip
    """Reliability diagram (mean predicted probability vs observed frequency per bin, the diagonal = calibrated) and,
    when the probabilities are given, their histogram beside it split by outcome (how many predictions each part of
    the curve rests on). `before`: the reliability curve of the uncalibrated probabilities, drawn beside for comparison."""
    p = np.asarray(curve.get("predicted", []), dtype=np.float64)
    o = np.asarray(curve.get("observed", []), dtype=np.float64)
    if p.ndim != 1 or p.shape != o.shape:
        raise ShapeError(f"reliability curve: predicted {p.shape} and observed {o.shape} must be 1-D of one length (one per bin)")
    with_hist = probabilities is not None and np.size(probabilities) > 0
    fig = new_figure(WIDE_IN, 4.3)
    axes = fig.subplots(1, 3, width_ratios=[1, 1, 0.8]) if with_hist else fig.subplots(1, 2, width_ratios=[1, 1.8])
    ax, ax_legend = axes[0], axes[-1]
    (diagonal,) = ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    bp = np.asarray((before or {}).get("predicted", []), dtype=np.float64)
    bo = np.asarray((before or {}).get("observed", []), dtype=np.float64)
    uncalibrated = ax.plot(bp, bo, marker="s", markersize=4, color="#999999", linewidth=1)[0] if bp.size and bp.shape == bo.shape else None
    (model,) = ax.plot(p, o, marker="o", color="#d62728")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability in bin", ylabel="observed frequency")
    ax.set_box_aspect(1)
    ax.grid(color="#eee", linewidth=0.6)
    parts = [f"ECE {sig(ece)}" if ece is not None else "", f"Brier {sig(brier)}" if brier is not None else ""]
    ax.set_title("Reliability" + (": " + ", ".join(x for x in parts if x) if any(parts) else ""), fontsize=10)
    handles = [model, diagonal]
    labels = [f"model{', calibrated' if uncalibrated is not None else ''} ({p.size} {curve.get('strategy', 'quantile')} bins)",
              "perfect calibration"]  # fmt: skip
    if uncalibrated is not None:
        handles.append(uncalibrated)
        labels.append(f"before calibration ({bp.size} bins)")
    if with_hist:
        h = axes[1]
        prob = np.asarray(probabilities, dtype=np.float64).ravel()
        bins = np.linspace(0, 1, 21)
        if outcomes is not None and np.shape(outcomes) == np.shape(probabilities):
            out = np.asarray(outcomes, dtype=np.float64).ravel()
            colors = ["#d62728", "#9ecae1"] if outcome_names[0] == "wrong" else ["#9ecae1", "#d62728"]
            _, _, bars = h.hist([prob[out == 0], prob[out == 1]], bins=bins, stacked=True, color=colors)
            handles += [bars[0][0], bars[1][0]]
            labels += [f"predictions, {outcome_names[0]}", f"predictions, {outcome_names[1]}"]
        else:
            h.hist(prob, bins=bins, color="#9ecae1")
        h.set(xlim=(0, 1), xlabel="predicted probability", ylabel="predictions")
        h.set_box_aspect(1)
        h.set_title(f"How many predictions ({prob.size:,})", fontsize=10)
    legend_panel(fig, ax_legend, handles, labels, of)
    return fig
