"""Model weights <-> Flower ArrayRecords, and the per-round numbers the server keeps (pure numpy, no training)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord
from torch import nn


def to_arrays(model: nn.Module) -> ArrayRecord:
    """The model's state dict (parameters and buffers) as an ArrayRecord."""
    return ArrayRecord(torch_state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()})


def load_arrays(model: nn.Module, arrays: ArrayRecord) -> nn.Module:
    """Load averaged arrays into `model`; integer buffers (counters) are rounded back, not truncated, to their dtype."""
    template = model.state_dict()
    incoming = arrays.to_torch_state_dict()
    missing = sorted(set(template) - set(incoming))
    if missing:
        raise ValueError(f"global model arrays lack {len(missing)} entries of the site model (e.g. {missing[:3]}); "
                         "the server and the sites built different models")  # fmt: skip
    state = {}
    for key, ref in template.items():
        value = incoming[key]
        if not torch.is_floating_point(ref) and torch.is_floating_point(value):
            value = value.round()
        state[key] = value.to(ref.dtype).reshape(ref.shape)
    model.load_state_dict(state)
    return model


def float_keys(arrays: ArrayRecord) -> list[str]:
    """Keys of the floating-point arrays (weights, running statistics), sorted; counters are left out."""
    return sorted(k for k, a in arrays.items() if np.issubdtype(a.numpy().dtype, np.floating))


def flat(arrays: ArrayRecord, keys: list[str]) -> np.ndarray:
    """The arrays at `keys` concatenated (to compare global models between rounds; averaging turns counters into floats,
    so the keys come from the initial model)."""
    parts = [arrays[k].numpy().astype(np.float64).ravel() for k in keys]
    return np.concatenate(parts) if parts else np.zeros(0)


def weighted_mean(rows: list[dict[str, Any]], key: str, weight: str = "num-examples") -> float:
    """Mean of `key` over the rows with a finite value, weighted by `weight` (NaN when no row has one)."""
    pairs = [(float(r[key]), float(r[weight])) for r in rows if key in r and np.isfinite(float(r[key]))]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total > 0 else float("nan")
