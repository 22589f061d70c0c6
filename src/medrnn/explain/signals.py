"""ExplainInputs of signal windows (time x lead), shared by the signal tasks (ECG beats, AF records, EEG windows)."""

from __future__ import annotations

import numpy as np
import torch

from medrnn.data.batch import make_batch
from medrnn.explain.inputs import ExplainInput

OCCLUSION_SECONDS = 0.05  # occlusion removes 50 ms at a time: a QRS complex is ~100 ms


def signal_input(sample_id: str, x: np.ndarray, sfreq_hz: float, leads: list[str], static: np.ndarray | None = None,
                 marks: list[tuple[float, str]] | None = None, multiple: int = 1) -> ExplainInput:  # fmt: skip
    """One signal window x (time, leads) in model units as a batch of one; the baseline 0 is the signal's mean level
    (inputs are band-passed and standardised). `multiple` pads time to the grid the task's model was scored on."""
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    n = x.shape[0]
    padded = np.zeros((n + (-n % multiple), x.shape[1]), dtype=np.float32)
    padded[:n] = x
    static_t = None if static is None else torch.as_tensor(np.asarray(static, dtype=np.float32)[None])
    batch = make_batch(torch.from_numpy(padded)[None], static=static_t, lengths=torch.tensor([n]))
    return ExplainInput(sample_id, batch, ("time", "lead"), n, axis_labels={"lead": list(leads)}, values=x,
                        context={"sfreq_hz": float(sfreq_hz), "marks": list(marks or [])},
                        occlusion_window=max(1, round(OCCLUSION_SECONDS * sfreq_hz)))  # fmt: skip


__all__ = ["OCCLUSION_SECONDS", "signal_input"]
