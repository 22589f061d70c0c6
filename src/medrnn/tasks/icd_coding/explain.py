"""Notes as ExplainInputs: the tokens of a note's first window (the whole note when it fits, as most CodiEsp notes do),
with each token's character span so a plot or a service can highlight the evidence in the original text."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from medrnn.data.batch import make_batch
from medrnn.explain.inputs import ExplainInput
from medrnn.tasks.icd_coding.predict import UNK_ID


def explain_inputs(pipeline: Any, notes: Any, index: list[int]) -> list[ExplainInput]:
    """Each note's first `window` tokens (a longer note's later windows are scored but not explained: said in context)."""
    ids = pipeline.encode(notes.subset(np.asarray(index, dtype=np.int64)))
    out = []
    for k, i in enumerate(index):
        tokens = notes.tokens[i][: pipeline.window]
        x = np.asarray(ids[k][: pipeline.window], dtype=np.int64)
        if x.size == 0:
            x = np.array([UNK_ID])
        batch = make_batch(torch.from_numpy(x)[None])
        out.append(ExplainInput(str(notes.note_ids[i]), batch, ("token",), int(x.size), axis_labels={"token": [t.text for t in tokens]},
                                context={"spans": [[t.start, t.end] for t in tokens], "n_tokens": len(notes.tokens[i]),
                                         "window": pipeline.window}))  # fmt: skip
    return out
