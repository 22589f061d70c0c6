"""EEG windows as ExplainInputs (time x the one channel)."""

from __future__ import annotations

from typing import Any

from medrnn.explain.inputs import ExplainInput
from medrnn.explain.signals import signal_input
from medrnn.tasks.eeg_seizure.data import EegWindows


def explain_inputs(pipeline: Any, windows: EegWindows, index: list[int]) -> list[ExplainInput]:
    """Each window as the model reads it; its id says segment and start time."""
    return [signal_input(f"{windows.segment[i]}@{windows.start[i] / windows.sfreq_hz:.1f}s", windows.x[i], windows.sfreq_hz, ["EEG"])
            for i in index]  # fmt: skip
