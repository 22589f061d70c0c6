"""Beats as ExplainInputs: the beat window (time x channel) with the R peak marked; the RR context stays fixed. For the
rhythm model (data.context_beats = K), the beat's neighbourhood: 2K + 1 beats, each split into its shape and its RR."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from medrnn.data.batch import make_batch
from medrnn.explain.inputs import ExplainInput
from medrnn.explain.signals import signal_input
from medrnn.tasks.ecg_beats.beats import BeatSet


def explain_inputs(pipeline: Any, beats: BeatSet, index: list[int]) -> list[ExplainInput]:
    """Each beat window with its channels named (raw / template) and the R peak marked at pre_s."""
    config = pipeline.config
    if config.context_beats > 0:
        return rhythm_inputs(pipeline, beats, index)
    static = pipeline.static(beats.subset(index)) if len(index) else None
    channels = {"raw": ["raw"], "template": ["beat - median beat"], "raw+template": ["raw", "beat - median beat"]}[config.channels]
    leads = [f"{config.lead} {c}" for c in channels]
    raw_hz = config.sfreq_hz
    return [signal_input(f"{beats.record[i]}:{int(beats.sample[i])} ({beats.sample[i] / raw_hz:.2f} s)", beats.x[i], beats.sfreq_hz,
                         leads, None if static is None else static[k], marks=[(config.pre_s, "R")])
            for k, i in enumerate(index)]  # fmt: skip


def rhythm_inputs(pipeline: Any, beats: BeatSet, index: list[int]) -> list[ExplainInput]:
    """Each beat as the rhythm model reads it: attribution per neighbouring beat (-K..+K) and per part (its window's
    shape, its RR context); the "beat exists" flag is held fixed, and steps past the record's edge hold no data."""
    config = pipeline.config
    k = config.context_beats
    if beats.context is None:  # neighbourhoods from the whole record first, then the chosen beats
        beats = beats.with_context(k, config.context_decimate)
    chosen = beats.subset(np.asarray(index, dtype=np.int64))
    x, static = pipeline.inputs(chosen), pipeline.static(chosen)
    signal = int(np.prod(chosen.context.x.shape[2:]))
    n_rr = x.shape[2] - signal - 1
    groups = np.array([0] * signal + [1] * n_rr)
    labels = {"beat": [f"{o:+d}" for o in range(-k, k + 1)], "part": ["shape", "RR"]}
    out = []
    for j, i in enumerate(index):
        st = None if static is None else torch.as_tensor(static[j : j + 1])
        batch = make_batch(torch.as_tensor(x[j : j + 1]), static=st)
        present = np.repeat(chosen.context.valid[j][:, None], 2, axis=1)
        out.append(ExplainInput(f"{beats.record[i]}:{int(beats.sample[i])} ({beats.sample[i] / config.sfreq_hz:.2f} s)", batch,
                                ("beat", "part"), x.shape[1], groups=groups, features=np.arange(signal + n_rr),
                                axis_labels=labels, present=present))  # fmt: skip
    return out
