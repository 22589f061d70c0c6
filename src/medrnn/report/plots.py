"""Report figures: confusion matrix, one-vs-rest ROC/PR curves with the legend beside them, ECG strip on standard ECG
paper with beat labels.

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
from medrnn.report.numbers import sig

MISMATCH_COLOR = "#d62728"
WIDE_IN = 10.4  # a full-width figure: 10.4 in at DPI = 1,144 px, the report's text width
DPI = 110


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


def figure_to_png(fig: Figure, dpi: int = DPI) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def plot_confusion(cm: Any, class_names: Sequence[str], display: dict[str, str] | None = None) -> Figure:
    """Confusion-matrix heatmap (rows true, columns predicted): colour and % are row-normalised, plus counts; `display`
    gives longer row names ({"S": "S (SVEB)"})."""
    display = display or {}
    cm = np.asarray(cm, dtype=np.int64)
    c = len(class_names)
    if cm.shape != (c, c):
        raise ShapeError(f"confusion matrix has shape {cm.shape}, expected ({c}, {c}) for classes {list(class_names)}")
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    fig = new_figure(0.8 * c + 3.4, 0.62 * c + 1.5)
    ax = fig.add_subplot()
    image = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    for i in range(c):
        for j in range(c):
            color = "white" if frac[i, j] > 0.6 else "black"
            share = f"\n{100 * frac[i, j]:.1f}%" if rows[i, 0] else ""
            ax.text(j, i, f"{cm[i, j]:,}{share}", ha="center", va="center", color=color, fontsize=9)
    ax.set_xticks(range(c), labels=list(class_names))
    ax.set_yticks(range(c), labels=[f"{display.get(n, n)} ({int(r):,})" for n, r in zip(class_names, rows[:, 0])])
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


def legend_panel(fig: Figure, ax: Any, handles: Sequence[Any], labels: Sequence[str], title: str = "") -> None:
    """A legend in its own axes beside the plots, so that it never covers a curve."""
    ax.axis("off")
    if handles:
        ax.legend(handles, labels, loc="center left", fontsize=9, title=title or None, title_fontsize=9, frameon=False,
                  borderaxespad=0)  # fmt: skip


def plot_roc_pr(y_true: Any, y_score: Any, class_names: Sequence[str], display: dict[str, str] | None = None) -> Figure:
    """One-vs-rest ROC and precision-recall curves side by side, one colour per class present in y_true, and one legend
    beside them (AUROC, AUPRC, reference count and prevalence per class). The dotted PR lines are each class's
    prevalence, the precision of a random ranking."""
    y_true, y_score = _check_scores(y_true, y_score, class_names)
    display = display or {}
    fig = new_figure(WIDE_IN, 4.3)
    ax_roc, ax_pr, ax_legend = fig.subplots(1, 3, width_ratios=[1, 1, 0.8])
    handles, labels = [], []
    for k, name, color, positive in _one_vs_rest(y_true, class_names):
        fpr, tpr, _ = roc_curve(positive, y_score[:, k])
        (line,) = ax_roc.plot(fpr, tpr, color=color, linewidth=1.4)
        precision, recall, _ = precision_recall_curve(positive, y_score[:, k])
        ax_pr.step(recall, precision, where="post", color=color, linewidth=1.4)
        ax_pr.axhline(positive.mean(), color=color, linestyle=":", linewidth=0.9)
        ap = average_precision_score(positive, y_score[:, k])
        handles.append(line)
        labels.append(f"{display.get(name, name)}: AUROC {sig(auc(fpr, tpr))}, AUPRC {sig(ap)}\n"
                      f"   n = {int(positive.sum()):,} ({100 * positive.mean():.2g}% of the test set)")  # fmt: skip
    (chance,) = ax_roc.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    handles.append(chance)
    labels.append("chance (ROC); dotted: prevalence (PR)")
    ax_roc.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 − specificity (FPR)", ylabel="sensitivity (TPR)", title="ROC, one vs rest")
    ax_pr.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="sensitivity (recall)", ylabel="+P (precision)", title="Precision-recall, one vs rest")
    for ax in (ax_roc, ax_pr):
        ax.set_box_aspect(1)
        ax.grid(color="#eee", linewidth=0.6)
    legend_panel(fig, ax_legend, handles, labels, "class")
    return fig


# ---- ECG strip on standard ECG paper --------------------------------------------------------------------------------
MM_PER_S = 25.0  # paper speed
MM_PER_MV = 10.0  # gain
GRID_MINOR = "#f6c6c6"
GRID_MAJOR = "#e58a8a"
STRIP_MISMATCH = "#5b7fb0"  # blue-grey: red would vanish on the pink paper


def plot_ecg_strip(
    signal: Any,
    sfreq_hz: float,
    beat_sample: Any,
    beat_pred: Any,
    class_names: Sequence[str],
    beat_true: Any = None,
    record_id: str | None = None,
    lead: str | None = None,
    units: str = "mV",
    start_s: float | None = None,
) -> Figure:
    """ECG strip on standard paper (25 mm/s, 10 mm/mV: minor squares 0.04 s × 0.1 mV, major 0.2 s × 0.5 mV, drawn to
    scale), each beat marked and labelled by its predicted class (colour), the reference class underneath where known
    (-1 = unknown, mismatches in red) and mismatched beats shaded blue. `signal` is one lead in `units` (physical units, as read from the record)."""
    from matplotlib.ticker import MultipleLocator

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
    in_mv = units.lower() == "mv"
    lo = np.floor((float(np.nanmin(signal)) - 0.1) / 0.5) * 0.5  # whole major squares (0.5 mV) around the trace
    top = float(np.nanmax(signal))
    hi = np.ceil((top + 0.9) / 0.5) * 0.5  # room above the trace for the two label rows
    # to scale: the axes' height/width ratio is (mV range x 10 mm) / (s x 25 mm); margins hold the labels
    width_in = WIDE_IN
    axes_w = width_in - 0.9
    axes_h = axes_w * (hi - lo) * MM_PER_MV / (duration_s * MM_PER_S) if in_mv else 2.4
    fig = new_figure(width_in, axes_h + 1.05)
    ax = fig.add_subplot()
    if in_mv:
        ax.set_aspect(MM_PER_MV / MM_PER_S, adjustable="box")
        steps_x = np.arange(0, duration_s + 1e-9, 0.2)  # major squares; whole seconds labelled
        ax.set_xticks(steps_x, labels=[f"{x:g}" if abs(x - round(x)) < 1e-6 else "" for x in steps_x])
        ax.xaxis.set_minor_locator(MultipleLocator(0.04))
        steps_y = np.arange(lo, hi + 1e-9, 0.5)
        ax.set_yticks(steps_y, labels=[f"{y:g}" for y in steps_y])
        ax.yaxis.set_minor_locator(MultipleLocator(0.1))
        ax.grid(which="minor", color=GRID_MINOR, linewidth=0.4)
        ax.grid(which="major", color=GRID_MAJOR, linewidth=0.8)
        ax.tick_params(which="both", length=0)
        ax.set_axisbelow(True)
    ax.plot(t, signal, color="black", linewidth=0.9)
    colors = class_colors(c)
    label_y, true_y = hi - 0.22, hi - 0.55
    for s, p, y in zip(beat_sample[inside], beat_pred[inside], beat_true[inside]):
        x = s / sfreq_hz
        wrong = y >= 0 and y != p
        if wrong:
            ax.axvspan(x - 0.3, x + 0.3, color=STRIP_MISMATCH, alpha=0.22, linewidth=0)
        ax.plot(x, signal[s], marker="o", markersize=4, color=colors[p])
        ax.text(x, label_y, str(class_names[p]), ha="center", va="center", color=colors[p], fontsize=10, fontweight="bold")
        if y >= 0:
            ax.text(x, true_y, f"({class_names[y]})", ha="center", va="center", fontsize=8,
                    color=MISMATCH_COLOR if wrong else "dimgrey", fontweight="bold" if wrong else "normal")  # fmt: skip
    ax.set_ylim(lo, hi)
    ax.set_xlim(0, duration_s)
    offset = f", from {_clock(start_s)} into the record" if start_s is not None else ""
    ax.set_xlabel(f"time (s){offset}; paper 25 mm/s: minor square 0.04 s, major 0.2 s")
    ax.set_ylabel(f"{lead + ' ' if lead else ''}({units})")
    if lead:
        ax.text(0.005, 0.03, lead, transform=ax.transAxes, ha="left", va="bottom", fontsize=10, fontweight="bold",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.5})  # fmt: skip
    n_wrong = int(((beat_true >= 0) & (beat_true != beat_pred))[inside].sum())
    title = f"record {record_id}" if record_id else "ECG"
    title += f", lead {lead}" if lead else ""
    gain = "10 mm/mV: minor square 0.1 mV, major 0.5 mV; " if in_mv else ""
    known = "predicted class above, (reference) below" if (beat_true >= 0).any() else "predicted class above each beat"
    ax.set_title(f"{title}: {int(inside.sum())} beats; {gain}{known}; {n_wrong} mismatches shaded blue", fontsize=9)
    return fig


def _clock(seconds: float) -> str:
    """12:34.5 (minutes:seconds) for a time into a record."""
    minutes, rest = divmod(float(seconds), 60.0)
    return f"{int(minutes)}:{rest:04.1f}"
