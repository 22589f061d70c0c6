"""Does slice attention fall where the radiologists outlined the nodule? The share of each nodule's attention on slices
with a consensus outline (>= 2 votes), against the share a uniform attention would give (the baseline)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medrnn.tasks.lidc_nodules.data import NoduleSet

CONSENSUS_VOTES = 2


def attention_in_outlines(samples: NoduleSet, attention: list[np.ndarray], pipeline: Any) -> dict[str, Any]:
    """Mean share of slice attention on outlined slices vs the uniform share, over nodules whose slices are not all (or
    none) outlined (there, every attention scores the same)."""
    shares, uniform = [], []
    for mask, att in zip(samples.masks, attention):
        if mask is None:
            continue
        outlined = (pipeline.crop(mask) >= CONSENSUS_VOTES).any(axis=(1, 2))
        if len(outlined) != len(att) or outlined.all() or not outlined.any():
            continue
        shares.append(float(np.asarray(att)[outlined].sum()))
        uniform.append(float(outlined.mean()))
    if not shares:
        return {"nodules": 0}
    return {"nodules": len(shares), "attention_share": round(float(np.mean(shares)), 4),
            "uniform_share": round(float(np.mean(uniform)), 4),
            "nodules_above_uniform": round(float(np.mean(np.array(shares) > np.array(uniform))), 4),
            "consensus_votes": CONSENSUS_VOTES}  # fmt: skip


__all__ = ["attention_in_outlines"]
