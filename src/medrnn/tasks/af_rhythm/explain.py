"""AF records as ExplainInputs: the whole filtered, downsampled record (time x the one lead)."""

from __future__ import annotations

from typing import Any

from medrnn.explain.inputs import ExplainInput
from medrnn.explain.signals import signal_input
from medrnn.tasks.af_rhythm.data import PAD_MULTIPLE, AfRecords


def explain_inputs(pipeline: Any, records: AfRecords, index: list[int]) -> list[ExplainInput]:
    """Each record at the rate the model reads it (sfreq / downsample), padded to the model's length grid."""
    hz = pipeline.config.sfreq_hz / pipeline.config.downsample
    return [signal_input(str(records.ids[i]), records.x[i], hz, ["ECG"], multiple=PAD_MULTIPLE) for i in index]
