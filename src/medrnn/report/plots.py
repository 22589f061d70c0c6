"""Report figures: confusion matrix, one-vs-rest ROC/PR curves, ECG strip with beat labels.

Every function returns a `matplotlib.figure.Figure` drawn on an Agg canvas without pyplot, so no
global figure state leaks and nothing needs a display.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

from medrnn.errors import ShapeError

MISMATCH_COLOR = "#d62728"


def new_figure(width: float, height: float) -> Figure:
    """A Figure bound to an Agg canvas (PNG rendering, no display, no pyplot registry)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def class_colors(num_classes: int) -> list[Any]:
    """One distinct colour per class (tab10, red last so it stays free for mismatches), stable across figures."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    order = (0, 1, 2, 4, 5, 8, 9, 6, 7, 3)
    return [cmap(order[k % 10]) for k in range(num_classes)]


def figure_to_png(fig: Figure, dpi: int = 110) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def plot_confusion(cm: Any, class_names: Sequence[str]) -> Figure:
    """Confusion-matrix heatmap (rows true, columns predicted): colour and % are row-normalised, plus counts."""
    cm = np.asarray(cm, dtype=np.int64)
    c = len(class_names)
    if cm.shape != (c, c):
        raise ShapeError(f"confusion matrix has shape {cm.shape}, expected ({c}, {c}) for classes {list(class_names)}")
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    fig = new_figure(1.1 * c + 2.2, 1.0 * c + 1.6)
    ax = fig.add_subplot()
    image = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    for i in range(c):
        for j in range(c):
            color = "white" if frac[i, j] > 0.6 else "black"
            ax.text(j, i, f"{cm[i, j]}\n{100 * frac[i, j]:.1f}%", ha="center", va="center", color=color, fontsize=9)
    ax.set_xticks(range(c), labels=list(class_names))
    ax.set_yticks(range(c), labels=[f"{n} ({int(r)})" for n, r in zip(class_names, rows[:, 0])])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (support)")
    ax.set_title("Confusion matrix")
    return fig


def _check_scores(y_true: Any, y_score: Any, class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Validate (n,) labels and (n, C) scores against the class names."""
    y_true, y_score = np.asarray(y_true), np.asarray(y_score, dtype=np.float64)
    if y_score.ndim != 2 or y_score.shape != (len(y_true), len(class_names)):
        raise ShapeError(
            f"y_score has shape {y_score.shape}, expected ({len(y_true)}, {len(class_names)}) to match y_true "
            f"and classes {list(class_names)}"
        )
    return y_true, y_score


def _one_vs_rest(y_true: np.ndarray, class_names: Sequence[str]) -> Iterator[tuple[int, str, Any, np.ndarray]]:
    """(index, name, colour, positive mask) of every class that has both positives and negatives."""
    for k, (name, color) in enumerate(zip(class_names, class_colors(len(class_names)))):
        positive = y_true == k
        if positive.any() and not positive.all():
            yield k, name, color, positive


def plot_roc(y_true: Any, y_score: Any, class_names: Sequence[str]) -> Figure:
    """One-vs-rest ROC curve per class present in y_true, AUROC in the legend."""
    y_true, y_score = _check_scores(y_true, y_score, class_names)
    fig = new_figure(5.5, 4.6)
    ax = fig.add_subplot()
    for k, name, color, positive in _one_vs_rest(y_true, class_names):
        fpr, tpr, _ = roc_curve(positive, y_score[:, k])
        ax.plot(fpr, tpr, color=color, label=f"{name} (AUROC {auc(fpr, tpr):.3f}, n={int(positive.sum())})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity (FPR)", ylabel="sensitivity (TPR)")
    ax.set_title("ROC, one vs rest")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def plot_pr(y_true: Any, y_score: Any, class_names: Sequence[str]) -> Figure:
    """One-vs-rest precision-recall curve per class present in y_true, AUPRC and prevalence in the legend."""
    y_true, y_score = _check_scores(y_true, y_score, class_names)
    fig = new_figure(5.5, 4.6)
    ax = fig.add_subplot()
    for k, name, color, positive in _one_vs_rest(y_true, class_names):
        precision, recall, _ = precision_recall_curve(positive, y_score[:, k])
        ap = average_precision_score(positive, y_score[:, k])
        label = f"{name} (AUPRC {ap:.3f}, prevalence {positive.mean():.3f})"
        ax.step(recall, precision, where="post", color=color, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="sensitivity (recall)", ylabel="+P (precision)")
    ax.set_title("Precision-recall, one vs rest")
    ax.legend(loc="lower left", fontsize=8)
    return fig


def plot_ecg_strip(
    signal: Any,
    sfreq_hz: float,
    beat_sample: Any,
    beat_pred: Any,
    class_names: Sequence[str],
    beat_true: Any = None,
    record_id: str | None = None,
) -> Figure:
    """ECG strip with each beat marked and labelled by its predicted class (colour), the true class
    underneath where known (-1 = unknown), and mismatches shaded red."""
    signal = np.asarray(signal, dtype=np.float64)
    if signal.ndim != 1 or signal.size == 0:
        raise ShapeError(f"signal has shape {signal.shape}, expected one non-empty lead (n_samples,)")
    beat_sample = np.asarray(beat_sample, dtype=np.int64)
    beat_pred = np.asarray(beat_pred, dtype=np.int64)
    beat_true = np.full(beat_sample.shape, -1) if beat_true is None else np.asarray(beat_true, dtype=np.int64)
    if not (beat_sample.shape == beat_pred.shape == beat_true.shape) or beat_sample.ndim != 1:
        raise ShapeError(
            f"beat_sample {beat_sample.shape}, beat_pred {beat_pred.shape} and beat_true {beat_true.shape} "
            "must be 1-D with one entry per beat"
        )
    c = len(class_names)
    inside = (beat_sample >= 0) & (beat_sample < signal.size)
    if ((beat_pred < 0) | (beat_pred >= c)).any() or ((beat_true < -1) | (beat_true >= c)).any():
        raise ShapeError(f"beat labels must lie in 0..{c - 1} (beat_true may be -1 for unknown)")
    t = np.arange(signal.size) / sfreq_hz
    duration_s = signal.size / sfreq_hz
    fig = new_figure(float(np.clip(1.4 * duration_s, 8, 22)), 3.6)
    ax = fig.add_subplot()
    ax.plot(t, signal, color="black", linewidth=0.8)
    colors = class_colors(c)
    span = float(np.ptp(signal)) or 1.0
    top = float(signal.max())
    half_width_s = 0.3
    for s, p, y in zip(beat_sample[inside], beat_pred[inside], beat_true[inside]):
        x = s / sfreq_hz
        wrong = y >= 0 and y != p
        if wrong:
            ax.axvspan(x - half_width_s, x + half_width_s, color=MISMATCH_COLOR, alpha=0.15, linewidth=0)
        ax.plot(x, signal[s], marker="o", markersize=5, color=colors[p])
        ax.text(x, top + 0.12 * span, str(class_names[p]), ha="center", va="bottom", color=colors[p],
                fontsize=10, fontweight="bold")
        if y >= 0:
            ax.text(x, top + 0.02 * span, f"({class_names[y]})", ha="center", va="bottom", fontsize=8,
                    color=MISMATCH_COLOR if wrong else "dimgrey", fontweight="bold" if wrong else "normal")
    ax.set_ylim(signal.min() - 0.05 * span, top + 0.3 * span)
    ax.set_xlim(0, duration_s)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    n_wrong = int(((beat_true >= 0) & (beat_true != beat_pred))[inside].sum())
    title = f"record {record_id}: " if record_id else ""
    known = "predicted label above, (true label) below" if (beat_true >= 0).any() else "predicted label"
    ax.set_title(f"{title}{int(inside.sum())} beats, {known}; {n_wrong} mismatches shaded red", fontsize=10)
    return fig
