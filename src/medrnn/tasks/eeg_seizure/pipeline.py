"""The preprocessing of an EEG seizure model: the window settings and the protocol's classes (nothing is fitted:
each window is standardised on its own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medrnn.tasks.base import Pipeline
from medrnn.tasks.eeg_seizure.config import PROTOCOLS, EegDataConfig

KEPT = ("protocol", "sfreq_hz", "window_s", "stride_s")  # how windows are cut; the split settings are not


@dataclass
class EegPipeline(Pipeline):
    """Window settings and class names of a protocol."""

    config: EegDataConfig
    label_names: list[str]
    output_kind: str = "multiclass"
    threshold: float | None = None

    @classmethod
    def fit(cls, config: EegDataConfig) -> EegPipeline:
        return cls(config, list(PROTOCOLS[config.protocol][0]))

    def state_dict(self) -> dict[str, Any]:
        return {"config": self.config.model_dump(mode="json", include=set(KEPT)), "label_names": list(self.label_names)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> EegPipeline:
        return cls(EegDataConfig.model_validate(state["config"]), list(state["label_names"]))

    def compatibility(self) -> dict[str, Any]:
        return {"label_names": list(self.label_names), "output_kind": self.output_kind,
                "windows": self.config.model_dump(mode="json", include=set(KEPT))}  # fmt: skip
