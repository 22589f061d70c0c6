"""What a task hands the explainer (one sample as the model reads it) and what comes back (an Explanation).

A task's `explain_inputs` turns its samples into `ExplainInput`s: a batch of one, the names of the axes the
attribution is aligned to (`Task.input_axes`), how the model's input features fold onto the second axis (the value
and mask channels of one ICU variable are one variable), and the value that means "absent". Everything else
(methods, faithfulness, the CLI) is generic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from medrnn.data.batch import Batch


@dataclass
class ExplainInput:
    """One sample as the model reads it, and how its attribution is laid out.

    `batch.x` is (1, time, features) float, or (1, time) token ids (then the attribution is taken at the model's
    `embedding` output and summed over the embedding). `features` lists the input features that are attributed and
    perturbed (None: all); `groups[k]` is the index along the second axis that attributed feature k belongs to (None:
    the features are the second axis as they are). Only the first `length` steps are real.
    """

    sample_id: str
    batch: Batch
    axes: tuple[str, ...]
    length: int
    groups: np.ndarray | None = None  # (attributed features,) int: feature -> position on axes[1]
    features: np.ndarray | None = None  # the input features attributed (others held at their value: GRU-D's mask); None: all
    axis_labels: dict[str, list[str]] = field(default_factory=dict)  # tick labels per axis (leads, variables, tokens, codes)
    baseline: float = 0.0  # the value of an absent input in model units (0 after standardisation); tokens: the pad id 0
    present: np.ndarray | None = None  # bool, the attribution's shape: cells that hold data (codes in a visit, observed values)
    values: np.ndarray | None = None  # what a plot shows under the attribution (the signal, observed values), axes-aligned
    context: dict[str, Any] = field(default_factory=dict)  # the task's plot extras (sampling rate, beat marks, spans, atoms)
    occlusion_window: int = 1  # steps of axes[0] removed together by occlusion (a 0.2 s window of a signal, one token)

    @property
    def tokens(self) -> bool:
        """True when the model input is token ids (attribution at the embedding)."""
        return self.batch.x.ndim == 2

    @property
    def shape(self) -> tuple[int, ...]:
        """The attribution's shape: (length,) for tokens, else (length, second-axis size)."""
        if self.tokens:
            return (self.length,)
        if self.groups is not None:
            return (self.length, int(self.groups.max()) + 1)
        return (self.length, len(self.features) if self.features is not None else int(self.batch.x.shape[2]))

    def attributed(self) -> torch.Tensor:
        """The part of x that methods attribute and perturb: x itself, or its `features` columns."""
        x = self.batch.x
        return x if self.features is None or self.tokens else x[..., torch.as_tensor(self.features, device=x.device)]


@dataclass
class Explanation:
    """Attributions of one sample for one or more outputs, aligned to the task's axes (positive: pushed the output up)."""

    item_id: str
    sample_id: str
    method: str
    axes: tuple[str, ...]
    targets: list[str]  # the outputs explained (the predicted class, the predicted codes ...)
    attributions: np.ndarray  # (len(targets), *shape)
    prediction: dict[str, float]  # output name -> the model's raw probability (before calibration; regression: model units)
    axis_labels: dict[str, list[str]] = field(default_factory=dict)
    values: np.ndarray | None = None
    context: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    faithfulness: dict[str, float] | None = None  # deletion/insertion areas against random orderings, randomisation check

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: the attribution per target as nested lists, with the axes and their labels."""
        return {"item_id": self.item_id, "sample_id": self.sample_id, "method": self.method, "axes": list(self.axes),
                "shape": list(self.attributions.shape[1:]), "targets": list(self.targets), "prediction": self.prediction,
                "axis_labels": self.axis_labels, "seconds": round(self.seconds, 4), "faithfulness": self.faithfulness,
                "attributions": {t: np.round(a, 6).tolist() for t, a in zip(self.targets, self.attributions)},
                "values": None if self.values is None else np.round(np.asarray(self.values, dtype=np.float64), 5).tolist(),
                "context": {k: v for k, v in self.context.items() if isinstance(v, (str, int, float, bool, list, dict))}}  # fmt: skip


__all__ = ["ExplainInput", "Explanation"]
