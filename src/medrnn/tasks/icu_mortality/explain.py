"""ICU stays as ExplainInputs: hour x variable, the value, mask and time-since channels of a variable folded into one."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from medrnn.data.batch import make_batch
from medrnn.explain.inputs import ExplainInput
from medrnn.tasks.icu_mortality.data import IcuStays


def explain_inputs(pipeline: Any, stays: IcuStays, index: list[int]) -> list[ExplainInput]:
    """Each stay on the model's grid. The standardised values are attributed, with the observation mask and the time
    since observation held as they are (GRU-D refuses a mask between 0 and 1): removing a cell means "this value was
    the training mean", and only observed cells are removed. The plot shows the observed values in their units."""
    if not index:
        return []
    chosen = stays.subset(np.asarray(index))
    x, static = pipeline.features(chosen)
    present = torch.from_numpy(pipeline.presence(chosen, x))  # which modalities each stay has (fusion models read it)
    binned = chosen.binned_on(pipeline.hours, pipeline.bin_minutes)
    n_vars = len(pipeline.variables)
    values_only = np.arange(n_vars)  # x = [values | mask | hours since observed]: the values are attributed
    out = []
    for k, stay in enumerate(chosen.stays):
        values, mask = binned[k]
        batch = make_batch(torch.from_numpy(x[k : k + 1]), static=torch.from_numpy(static[k : k + 1].astype(np.float32)),
                           present=present[k : k + 1])  # fmt: skip
        out.append(ExplainInput(str(stay.record_id), batch, ("hour", "variable"), x.shape[1], features=values_only,
                                axis_labels={"variable": list(pipeline.variables)}, present=np.asarray(mask, dtype=bool),
                                values=np.where(mask, values, np.nan), context={"bin_minutes": pipeline.bin_minutes},
                                occlusion_window=1))  # fmt: skip
    return out
