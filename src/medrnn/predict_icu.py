"""Inference for ICU mortality artifacts: raw PhysioNet-2012-format stay files -> risk of in-hospital death."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from medrnn.artifact import load_artifact
from medrnn.data.batch import make_batch
from medrnn.errors import ArtifactError, MedrnnError
from medrnn.io.physionet2012 import read_physionet2012_record
from medrnn.predict import auto_device
from medrnn.records import IcuStay
from medrnn.transforms.irregular import IrregularStandardizer, grud_inputs, raw_static, with_indicators
from medrnn.transforms.standardize import Standardizer


@dataclass
class IcuPredictions:
    """One row per stay read; files that could not be read are listed with the reason (never dropped silently)."""

    record_ids: list[str]
    risk: np.ndarray  # (n,) probability of the outcome
    n_observations: list[int]
    outcome: str
    errors: dict[str, str] = field(default_factory=dict)  # file -> reason

    def rows(self) -> list[dict[str, Any]]:
        return [{"record_id": r, f"p_{self.outcome}": round(float(p), 6), "n_observations": n}
                for r, p, n in zip(self.record_ids, self.risk, self.n_observations)]  # fmt: skip


class IcuPredictor:
    """A trained ICU model with its fitted standardisers, loaded from an artifact; needs no training data."""

    def __init__(self, model: nn.Module, metadata: dict[str, Any]) -> None:
        self.model, self.metadata = model, metadata
        prep = metadata["preprocessing"]
        self.series_scaler = IrregularStandardizer.from_state_dict(prep["series_scaler"])
        self.static_scaler = Standardizer.from_state(prep["static_scaler"])
        self.static_names: list[str] = list(prep["static_names"])
        self.hours, self.bin_minutes, self.outcome = float(prep["hours"]), int(prep["bin_minutes"]), str(prep["outcome"])

    @classmethod
    def from_artifact(cls, path: str | Path, device: str | torch.device | None = None) -> IcuPredictor:
        model, meta = load_artifact(path, device=device or auto_device())
        if meta.get("task") != "icu_mortality":
            raise ArtifactError(f"{path}: artifact task is {meta.get('task', 'none (an ECG beat model)')!r}, not an ICU mortality model")
        return cls(model, meta)

    def predict_stays(self, stays: list[IcuStay]) -> np.ndarray:
        """Risk per stay, in order."""
        if not stays:
            return np.zeros(0)
        x = grud_inputs(stays, self.series_scaler, self.hours, self.bin_minutes)
        raw, base = raw_static(stays)
        static = np.nan_to_num(self.static_scaler.transform(with_indicators(raw, base, self.static_names)), nan=0.0)
        device = next(self.model.parameters()).device
        batch = make_batch(torch.from_numpy(x), static=torch.from_numpy(static)).to(device)
        with torch.no_grad():
            return torch.sigmoid(self.model(batch).logits[:, 0]).cpu().numpy().astype(np.float64)

    def predict_files(self, paths: list[str | Path]) -> IcuPredictions:
        """Read each stay file; predict the readable ones and report the others with their reason."""
        stays, errors = [], {}
        for path in paths:
            try:
                stay = read_physionet2012_record(path)
            except (MedrnnError, OSError) as err:
                errors[str(path)] = str(err)
                continue
            if len(stay) == 0:  # training excluded such stays: the model has never seen one
                errors[str(path)] = f"{path}: descriptors only, no time-series observation; the model was trained on stays with some"
                continue
            stays.append(stay)
        risk = self.predict_stays(stays)
        return IcuPredictions([s.record_id for s in stays], risk, [len(s) for s in stays], self.outcome, errors)
