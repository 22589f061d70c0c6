"""A nodule's slice strip: the slices the model read (its central crop), side by side, each with its slice-attention
weight as a bar beneath, and the radiologists' consensus outline (>= 2 votes) drawn where the input has one. Drawn per
input by `medrnn predict --figures` and for a few test nodules in the report."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from medrnn.report.plots import new_figure

CONSENSUS_VOTES = 2  # the usual LIDC consensus outline
PER_ROW = 14  # slices per row of the strip (a 28-slice series: two rows)
OUTLINE_COLOR, BAR_COLOR = "#2ecc71", "#d62728"


def attention_strip(images: np.ndarray, attention: np.ndarray | None, outline: np.ndarray | None, first_slice: int,
                    title: str) -> Figure:  # fmt: skip
    """images (slices, H, W) grey levels in [0, 1]; attention (slices,) or None (a model without it); outline (slices,
    H, W) vote counts or None. Slices are numbered from `first_slice` (their index in the input)."""
    n = len(images)
    cols, rows = min(n, PER_ROW), -(-n // PER_ROW)
    bars = attention is not None and len(attention) == n
    heights = [1.0, 0.22] * rows if bars else [1.0] * rows
    fig = new_figure(0.95 * cols + 0.4, sum(heights) * 0.95 + 0.45)
    grid = fig.add_gridspec(len(heights), cols, height_ratios=heights)
    top = max(float(np.max(attention)), 2.0 / n) if bars else 1.0  # uniform attention fills half a bar, not all
    for j in range(n):
        r, c = divmod(j, PER_ROW)
        ax = fig.add_subplot(grid[r * (2 if bars else 1), c])
        ax.imshow(images[j], cmap="gray", vmin=0, vmax=1)
        if outline is not None and (np.asarray(outline[j]) >= CONSENSUS_VOTES).any():
            ax.contour(np.asarray(outline[j]) >= CONSENSUS_VOTES, levels=[0.5], colors=OUTLINE_COLOR, linewidths=0.9)
        ax.set_title(f"slice {first_slice + j}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        if bars:
            bar = fig.add_subplot(grid[r * 2 + 1, c])
            bar.barh([0], [float(attention[j])], color=BAR_COLOR, height=0.8)
            bar.set_xlim(0, top)
            bar.set_axis_off()
            bar.text(0.5, -0.9, f"{float(attention[j]):.2f}", ha="center", va="top", fontsize=7, transform=bar.transAxes)
    said = "bars: slice attention (sums to 1)" if bars else "this model has no slice attention"
    outlined = ""
    if outline is not None:
        consensus = (np.asarray(outline) >= CONSENSUS_VOTES).any()
        outlined = (f"; green: outline of >= {CONSENSUS_VOTES} radiologists" if consensus else
                    f"; no slice outlined by >= {CONSENSUS_VOTES} radiologists")  # fmt: skip
    fig.suptitle(f"{title}\n{said}{outlined}", fontsize=8)
    return fig


def prediction_text(values: np.ndarray, pipeline: Any) -> str:
    """The prediction in words for a strip's title: p(malignant), the class and its probability, or the rating."""
    names = list(pipeline.label_names)
    if pipeline.output_kind == "multiclass":
        k = int(np.argmax(values))
        return f"{names[k]} (p {values[k]:.2f})"
    if pipeline.output_kind == "regression":
        return f"malignancy rating {values[0]:.2f} (1-5)"
    return f"p({names[0]}) {values[0]:.2f}"


def nodule_strip(pipeline: Any, nodule: str, image: np.ndarray, mask: np.ndarray | None, attention: np.ndarray | None,
                 title: str) -> Figure:  # fmt: skip
    """The strip of one nodule as the model read it: its kept slices, centre-cropped like the model's input."""
    kept = pipeline.kept_slices(len(image))
    outline = None if mask is None else pipeline.crop(mask, nodule)
    return attention_strip(pipeline.crop(image, nodule), attention, outline, int(kept.start), title)


def strip_figures(item: Any, scores: Any, pipeline: Any) -> list[tuple[str, Figure]]:
    """One strip per nodule of a predicted input (none for the rows-of-one-slice baseline, which reads no slices)."""
    from medrnn.explain.plots import safe

    if pipeline.layout != "slices":
        return []
    samples = item.samples
    attention = scores.extras.get("attention") or []
    out = []
    for i, (nodule, image, mask) in enumerate(zip(samples.ids, samples.images, samples.masks)):
        att = np.asarray(attention[i]) if i < len(attention) else None
        title = f"{nodule}: {prediction_text(np.asarray(scores.values[i]), pipeline)}"
        name = "slice_attention" if len(samples) == 1 else f"{safe(nodule)}__slice_attention"
        out.append((name, nodule_strip(pipeline, nodule, image, mask, att, title)))
    return out


__all__ = ["CONSENSUS_VOTES", "attention_strip", "nodule_strip", "prediction_text", "strip_figures"]
