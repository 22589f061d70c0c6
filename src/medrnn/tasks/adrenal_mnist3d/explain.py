"""Adrenal volumes as ExplainInputs (slice x region: squares of `region_px` pixels, row-major) and their figure: the
slices of the mask with the attribution over them."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from medrnn.data.batch import make_batch
from medrnn.explain.inputs import ExplainInput
from medrnn.tasks.adrenal_mnist3d.data import AdrenalVolumes

MAX_SLICES_DRAWN = 10


def explain_inputs(pipeline: Any, samples: AdrenalVolumes, index: list[int]) -> list[ExplainInput]:
    """Each volume as the model reads it; removing a region means "no gland there" (0, the background)."""
    if not index:
        return []
    chosen = samples.subset(np.asarray(index))
    side, px = pipeline.side, pipeline.region_px
    cells = -(-side // px)
    rows, cols = np.divmod(np.arange(side * side), side)
    groups = (rows // px) * cells + cols // px
    out = []
    for sample_id, x, volume in zip(chosen.ids, pipeline.features(chosen), chosen.volumes):
        values = np.zeros((len(x), cells * cells))
        np.add.at(values.T, groups, x.T)
        out.append(ExplainInput(sample_id, make_batch(torch.from_numpy(x[None])), ("slice", "region"), len(x), groups=groups,
                                axis_labels={"region": [f"r{r}c{c}" for r in range(cells) for c in range(cells)]},
                                values=values / np.bincount(groups)[None, :],
                                context={"grid": [cells, cells], "region_px": px, "images": volume}))  # fmt: skip
    return out


def volume_figure(e: Any) -> Figure:
    """The slices holding most of the gland, each with the attribution of the explained output over it."""
    import matplotlib.pyplot as plt

    from medrnn.explain.plots import CMAP, norm_of, title_of

    images = np.asarray(e.context["images"])
    cells, px = e.context["grid"][0], int(e.context["region_px"])
    side = images.shape[1]
    att = e.attributions[0]
    order = np.sort(np.argsort(-images.reshape(len(images), -1).sum(1), kind="stable")[:MAX_SLICES_DRAWN])
    fig, axes = plt.subplots(1, len(order), figsize=(1.5 * len(order) + 0.6, 2.2), squeeze=False)
    norm = norm_of(att[order])
    for ax, k in zip(axes[0], order):
        ax.imshow(images[k], cmap="gray", vmin=0, vmax=1)
        ax.imshow(np.kron(att[k].reshape(cells, cells), np.ones((px, px)))[:side, :side], cmap=CMAP, norm=norm, alpha=0.6)
        ax.set_title(f"slice {k}", fontsize=7)
        ax.set_axis_off()
    fig.suptitle(f"{e.sample_id} - {title_of(e, 0)}", fontsize=9)
    fig.tight_layout()
    return fig


def explain_figures(item: Any) -> list[tuple[str, Figure]]:
    """One figure per explained volume of an input."""
    from medrnn.explain.plots import safe

    return [(f"{safe(e.item_id)}__{safe(e.sample_id)}", volume_figure(e)) for e in item.explanations]


__all__ = ["explain_figures", "explain_inputs"]
