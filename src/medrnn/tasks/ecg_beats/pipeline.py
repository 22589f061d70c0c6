"""The fitted preprocessing of a beat model: how beats are cut (config) and the RR-feature scaler fitted on training beats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medrnn.tasks.base import Pipeline
from medrnn.tasks.ecg_beats.beats import AAMI_CLASSES, BeatSet
from medrnn.tasks.ecg_beats.config import BeatDataConfig
from medrnn.transforms import RR_FEATURE_NAMES, Standardizer

RECORD_LISTS = ("train_records", "test_records", "val_records")  # which records a run used: not how beats are cut


@dataclass
class BeatPipeline(Pipeline):
    """Beat cutting configuration and the RR standardiser (None when RR features are off)."""

    config: BeatDataConfig
    rr_scaler: Standardizer | None
    label_names: list[str]
    output_kind: str = "multiclass"
    threshold: float | None = None

    @classmethod
    def fit(cls, train: BeatSet, config: BeatDataConfig) -> BeatPipeline:
        """Fit the RR scaler on the training beats only."""
        return cls(config, Standardizer().fit(train.rr) if config.rr_features else None, list(AAMI_CLASSES))

    def static(self, beats: BeatSet) -> np.ndarray | None:
        """Standardised RR context of `beats` (the model's static input), or None."""
        return self.rr_scaler.transform(beats.rr) if self.rr_scaler is not None else None

    def state_dict(self) -> dict[str, Any]:
        # how beats are cut, without the training, validation and test record lists: record ids stay out of the artifact
        return {"beats": self.config.model_dump(mode="json", exclude=set(RECORD_LISTS)),
                "rr_scaler": self.rr_scaler.state_dict() if self.rr_scaler else None,
                "rr_feature_names": list(RR_FEATURE_NAMES) if self.rr_scaler else [], "label_names": list(self.label_names)}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> BeatPipeline:
        scaler = Standardizer.from_state(state["rr_scaler"]) if state.get("rr_scaler") else None
        return cls(BeatDataConfig.model_validate(state["beats"]), scaler, list(state.get("label_names", AAMI_CLASSES)))

    def compatibility(self) -> dict[str, Any]:
        cut = self.config.model_dump(mode="json", exclude=set(RECORD_LISTS))
        return {**super().compatibility(), "beats": cut}
