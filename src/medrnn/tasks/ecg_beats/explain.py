"""Beats as ExplainInputs: the beat window (time x channel) with the R peak marked; the RR context stays fixed."""

from __future__ import annotations

from typing import Any

from medrnn.explain.inputs import ExplainInput
from medrnn.explain.signals import signal_input
from medrnn.tasks.ecg_beats.beats import BeatSet


def explain_inputs(pipeline: Any, beats: BeatSet, index: list[int]) -> list[ExplainInput]:
    """Each beat window with its channels named (raw / template) and the R peak marked at pre_s."""
    config = pipeline.config
    static = pipeline.static(beats.subset(index)) if len(index) else None
    channels = {"raw": ["raw"], "template": ["beat - median beat"], "raw+template": ["raw", "beat - median beat"]}[config.channels]
    leads = [f"{config.lead} {c}" for c in channels]
    raw_hz = config.sfreq_hz
    return [signal_input(f"{beats.record[i]}:{int(beats.sample[i])} ({beats.sample[i] / raw_hz:.2f} s)", beats.x[i], beats.sfreq_hz,
                         leads, None if static is None else static[k], marks=[(config.pre_s, "R")])
            for k, i in enumerate(index)]  # fmt: skip
