"""Coded-visit samples as ExplainInputs: visit x code (the multi-hot vocabulary), only the codes a visit holds count."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from medrnn.data.batch import make_batch
from medrnn.explain.inputs import ExplainInput


def explain_inputs(pipeline: Any, samples: Any, index: list[int]) -> list[ExplainInput]:
    """Each sample's history as multi-hot visits; baseline 0 = the code absent; deletion removes present codes only."""
    chosen = [samples.samples[i] for i in index]
    codes = list(pipeline.vocab.codes_)
    out = []
    for sample in chosen:
        x = pipeline.vocab.multi_hot(sample.visits).astype(np.float32)  # (visits, vocab)
        batch = make_batch(torch.from_numpy(x)[None])
        out.append(ExplainInput(str(sample.sample_id), batch, ("visit", "code"), x.shape[0], axis_labels={"code": codes},
                                present=x > 0, values=x, context={"patient_id": str(sample.patient_id)}))  # fmt: skip
    return out
