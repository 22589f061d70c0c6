"""Nodules as ExplainInputs (slice x region: square regions of `region_px` pixels of each slice, row-major), and figures:
each slice with the radiologists' outline (>= 2 votes) beside the attribution over it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from medrnn.data.batch import make_batch
from medrnn.errors import ConfigError
from medrnn.explain.inputs import ExplainInput
from medrnn.tasks.lidc_nodules.data import NoduleSet

MAX_SLICES_DRAWN = 10
CONSENSUS_VOTES = 2  # the usual LIDC consensus outline


def region_groups(side: int, region_px: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(pixel -> region index (side*side,), grid (rows, cols)) for square regions of `region_px` pixels."""
    cells = -(-side // region_px)
    rows, cols = np.divmod(np.arange(side * side), side)
    return (rows // region_px) * cells + cols // region_px, (cells, cells)


def explain_inputs(pipeline: Any, samples: NoduleSet, index: list[int]) -> list[ExplainInput]:
    """Each nodule as the model reads it; only the grey-level channel is attributed (an outline channel is held), and
    removing a region means "this region at the training mean grey level" (0 after standardisation)."""
    if pipeline.layout != "slices":
        raise ConfigError(f"explanations align to slice x region; this model reads the {pipeline.layout!r} layout (a baseline)")
    if not index:
        return []
    chosen = samples.subset(np.asarray(index))
    xs = pipeline.features(chosen)
    side = pipeline.crop_px
    groups, grid = region_groups(side, pipeline.region_px)
    labels = [f"r{r}c{c}" for r in range(grid[0]) for c in range(grid[1])]
    out = []
    for k, x in enumerate(xs):
        kept = pipeline.kept_slices(len(chosen.images[k]))
        grey = pipeline.crop(chosen.images[k], chosen.ids[k])  # (slices, side, side) in [0, 1]
        outline = None if chosen.masks[k] is None else pipeline.crop(chosen.masks[k], chosen.ids[k])
        values = np.zeros((len(x), grid[0] * grid[1]))
        np.add.at(values.T, groups, grey.reshape(len(x), -1).T)
        values /= np.bincount(groups)[None, :]
        context = {"grid": list(grid), "region_px": pipeline.region_px, "images": grey, "outline": outline,
                   "first_slice": int(kept.start)}  # fmt: skip
        out.append(ExplainInput(chosen.ids[k], make_batch(torch.from_numpy(x[None])), ("slice", "region"), len(x),
                                groups=groups, features=np.arange(side * side), axis_labels={"region": labels},
                                values=values, context=context))  # fmt: skip
    return out


def nodule_figure(e: Any) -> Figure:
    """Slices on top (outline >= 2 votes drawn), the attribution of the explained output below, with its slice total."""
    import matplotlib.pyplot as plt

    from medrnn.explain.plots import CMAP, norm_of, title_of

    images = np.asarray(e.context.get("images"))
    outline = e.context.get("outline")
    rows, cols = e.context.get("grid", [1, 1])
    side, px = images.shape[1], int(e.context.get("region_px", 1))
    att = e.attributions[0]  # (slices, regions)
    n = min(len(images), MAX_SLICES_DRAWN)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n + 0.6, 3.8), squeeze=False)
    norm = norm_of(att[:n])
    first = int(e.context.get("first_slice", 0))
    for j in range(n):
        axes[0, j].imshow(images[j], cmap="gray", vmin=0, vmax=1)
        if outline is not None and (np.asarray(outline[j]) >= CONSENSUS_VOTES).any():
            axes[0, j].contour(np.asarray(outline[j]) >= CONSENSUS_VOTES, levels=[0.5], colors="#2ecc71", linewidths=0.8)
        heat = np.kron(att[j].reshape(rows, cols), np.ones((px, px)))[:side, :side]
        axes[1, j].imshow(images[j], cmap="gray", vmin=0, vmax=1)
        axes[1, j].imshow(heat, cmap=CMAP, norm=norm, alpha=0.6)
        axes[0, j].set_title(f"slice {first + j}\n{att[j].sum():+.2g}", fontsize=7)
        for ax in axes[:, j]:
            ax.set_axis_off()
    fig.suptitle(f"{e.sample_id} - {title_of(e, 0)} (green: outline of >= {CONSENSUS_VOTES} radiologists)", fontsize=9)
    fig.tight_layout()
    return fig


def explain_figures(item: Any) -> list[tuple[str, Figure]]:
    """One figure per explained nodule of an input."""
    from medrnn.explain.plots import safe

    return [(f"{safe(e.item_id)}__{safe(e.sample_id)}", nodule_figure(e)) for e in item.explanations]


__all__ = ["explain_figures", "explain_inputs", "region_groups"]
