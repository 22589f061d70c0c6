"""The fitted preprocessing of an ICU model: the hourly grid, the series standardiser and the descriptor standardiser.

Both standardisers are fitted on the training stays only. The state keeps the keys of medrnn's earlier ICU artifacts
(`icu_preprocessing`), so their artifacts load with `Predictor.from_artifact`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medrnn.errors import ArtifactError
from medrnn.io.physionet2012 import VARIABLES
from medrnn.tasks.base import Pipeline
from medrnn.tasks.icu_mortality.config import IcuDataConfig
from medrnn.tasks.icu_mortality.data import IcuStays
from medrnn.transforms.irregular import IrregularStandardizer, grud_inputs, raw_static, with_indicators
from medrnn.transforms.standardize import Standardizer

LAYOUT = "x = [standardised values, 0 where missing | observation mask | hours since last observation]"
MODALITIES = ("series", "static")  # a fusion model's modalities: the 48 h series, the admission descriptors


@dataclass
class IcuPipeline(Pipeline):
    """Grid (hours, bin_minutes), fitted standardisers and the descriptor feature names fixed at training time."""

    hours: float
    bin_minutes: int
    outcome: str
    series_scaler: IrregularStandardizer
    static_scaler: Standardizer
    static_names: list[str]
    variables: list[str] = field(default_factory=lambda: list(VARIABLES))
    modalities_optional: bool = False  # a fusion model: a stay may lack its series or its descriptors (MODALITIES)
    output_kind: str = "binary"
    threshold: float | None = None

    @property
    def label_names(self) -> list[str]:  # type: ignore[override]
        """One binary output: the outcome (In-hospital_death)."""
        return [self.outcome]

    @property
    def input_size(self) -> int:
        """Channels per time step: values, mask and time since observed for every variable."""
        return 3 * len(self.variables)

    @classmethod
    def fit(cls, train: IcuStays, config: IcuDataConfig) -> IcuPipeline:
        """Fit the series standardiser on the training stays' binned values, the descriptor one on their descriptors."""
        binned = train.binned_on(config.hours, config.bin_minutes)
        series_scaler = IrregularStandardizer().fit([values for values, _ in binned])
        raw, base_names = raw_static(train.stays)
        # a missing-indicator column for each descriptor missing somewhere in training (Height: 47 % of stays)
        names = base_names + [f"{n}_missing" for n, gap in zip(base_names, np.isnan(raw).any(axis=0)) if gap]
        static_scaler = Standardizer().fit(with_indicators(raw, base_names, names))
        return cls(float(config.hours), int(config.bin_minutes), config.outcome, series_scaler, static_scaler, names)

    def features(self, samples: IcuStays) -> tuple[np.ndarray, np.ndarray]:
        """Model input x (n, time, 3V) float32 and standardised descriptors (n, s), missing -> 0 (mean imputation)."""
        binned = samples.binned_on(self.hours, self.bin_minutes)
        x = grud_inputs(samples.stays, self.series_scaler, self.hours, self.bin_minutes, binned)
        raw, base_names = raw_static(samples.stays)
        static = np.nan_to_num(self.static_scaler.transform(with_indicators(raw, base_names, self.static_names)), nan=0.0)
        return x, static

    def presence(self, samples: IcuStays, x: np.ndarray | None = None) -> np.ndarray:
        """(n, 2) float32 0/1 per stay: [any observation in the window, any descriptor], the order of MODALITIES. With
        the stays' model input `x` (from `features`) the series part is read off its mask channels, not binned again."""
        if x is None:
            series = np.array([bool(np.asarray(mask).any()) for _, mask in samples.binned_on(self.hours, self.bin_minutes)])
        else:
            v = len(self.variables)
            series = x[:, :, v : 2 * v].reshape(len(x), -1).any(axis=1)
        static = [any(np.isfinite(value) for value in stay.static.values()) for stay in samples.stays]
        return np.stack([np.asarray(series, dtype=np.float32), np.asarray(static, dtype=np.float32)], axis=1).reshape(len(samples), 2)

    def state_dict(self) -> dict[str, Any]:
        return {"variables": list(self.variables), "hours": self.hours, "bin_minutes": self.bin_minutes,
                "series_scaler": self.series_scaler.state_dict(), "static_scaler": self.static_scaler.state_dict(),
                "static_names": list(self.static_names), "outcome": self.outcome, "layout": LAYOUT,
                "modalities_optional": self.modalities_optional}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> IcuPipeline:
        variables = list(state.get("variables", VARIABLES))
        if variables != list(VARIABLES):
            raise ArtifactError(f"preprocessing field 'variables' lists {len(variables)} variables that differ from the "
                                f"{len(VARIABLES)} PhysioNet 2012 variables this medrnn reads; "
                                "the artifact comes from another reader")  # fmt: skip
        return cls(float(state["hours"]), int(state["bin_minutes"]), str(state["outcome"]),
                   IrregularStandardizer.from_state_dict(state["series_scaler"]), Standardizer.from_state(state["static_scaler"]),
                   list(state["static_names"]), variables, bool(state.get("modalities_optional", False)))  # fmt: skip


__all__ = ["IcuPipeline", "LAYOUT", "MODALITIES"]
