"""Predictor: record -> per-beat prediction. The only inference path; the CLI and evaluation call it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medrnn.artifact import load_artifact
from medrnn.config import BeatDataConfig
from medrnn.data.batch import make_batch
from medrnn.records import SignalRecord
from medrnn.tasks.beats import extract_beats
from medrnn.transforms.peaks import detect_r_peaks
from medrnn.transforms.standardize import Standardizer


def auto_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def predict_proba(
    model: nn.Module, x: np.ndarray, static: np.ndarray | None = None, batch_size: int = 1024, device: torch.device | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Class probabilities (n, classes) and attention (n, time') for fixed-length inputs x (n, time, features)."""
    device = device or next(model.parameters()).device
    model.eval()
    probs, attention = [], []
    for i in range(0, x.shape[0], batch_size):
        xb = torch.as_tensor(x[i : i + batch_size], device=device)
        sb = None if static is None else torch.as_tensor(static[i : i + batch_size], device=device)
        out = model(make_batch(xb, static=sb))
        probs.append(torch.softmax(out.logits, dim=-1).cpu().numpy())
        if out.attention is not None:
            attention.append(out.attention.cpu().numpy())
    return np.concatenate(probs), (np.concatenate(attention) if attention else None)


@dataclass
class BeatPredictions:
    """Per-beat output for one record: R-peak sample, time, class and probabilities."""

    record_id: str
    sample: np.ndarray
    time_s: np.ndarray
    label: list[str]
    probs: np.ndarray  # (n_beats, n_classes)
    class_names: list[str]
    attention: np.ndarray | None = None  # (n_beats, time') when the model pools with attention

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per beat, for CSV/JSON output."""
        return [
            {
                "record": self.record_id,
                "sample": int(s),
                "time_s": round(float(t), 4),
                "class": lab,
                **{f"p_{c}": round(float(p), 5) for c, p in zip(self.class_names, prob)},
            }
            for s, t, lab, prob in zip(self.sample, self.time_s, self.label, self.probs)
        ]


class Predictor:
    """A trained beat classifier with its preprocessing, loaded from an artifact; no training data needed."""

    def __init__(self, model: nn.Module, metadata: dict[str, Any]) -> None:
        self.model, self.metadata = model, metadata
        prep = metadata["preprocessing"]
        self.beat_config = BeatDataConfig.model_validate(prep["beats"])
        self.rr_scaler = Standardizer.from_state(prep["rr_scaler"]) if prep.get("rr_scaler") else None
        self.class_names = list(metadata["class_names"])

    @classmethod
    def from_artifact(cls, path: str | Path, device: str | torch.device | None = None) -> Predictor:
        model, meta = load_artifact(path, device=device or auto_device())
        return cls(model, meta)

    def predict(self, record: SignalRecord, peaks: np.ndarray | None = None) -> BeatPredictions:
        """Detect R peaks (XQRS) unless given, then classify every beat of the record."""
        cfg = self.beat_config
        if peaks is None:
            lead = record.lead(cfg.lead)
            peaks = detect_r_peaks(lead, record.sfreq_hz, source=record.source or record.record_id)
        beats = extract_beats(record, cfg, peaks=peaks)
        static = self.rr_scaler.transform(beats.rr) if self.rr_scaler is not None else None
        probs, attention = predict_proba(self.model, beats.x, static)
        labels = [self.class_names[i] for i in probs.argmax(axis=1)]
        return BeatPredictions(record.record_id, beats.sample, beats.sample / record.sfreq_hz, labels, probs, self.class_names, attention)
