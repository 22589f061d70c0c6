"""The fitted preprocessing of a beat model: how beats are cut (config) and the RR-feature scaler fitted on training beats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medrnn.tasks.base import Pipeline
from medrnn.tasks.ecg_beats.beats import AAMI_CLASSES, BeatSet
from medrnn.tasks.ecg_beats.config import BeatDataConfig
from medrnn.tasks.ecg_beats.decision import decide
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
    decision_weights: list[float] | None = None  # per class, tuned on validation (decision.py); None: plain argmax
    tune_decision: bool = False  # tune decision_weights after training (the run's `decision: tuned`)

    @classmethod
    def fit(cls, train: BeatSet, config: BeatDataConfig, tune_decision: bool = False) -> BeatPipeline:
        """Fit the RR scaler on the training beats only."""
        scaler = Standardizer().fit(train.rr) if config.rr_features else None
        return cls(config, scaler, list(AAMI_CLASSES), tune_decision=tune_decision)

    def predicted(self, probs: np.ndarray) -> np.ndarray:
        """The predicted class of each row of probabilities (weighted argmax when decision weights were tuned)."""
        return decide(probs, self.decision_weights)

    def static(self, beats: BeatSet) -> np.ndarray | None:
        """Standardised RR context of `beats` (the model's static input), or None."""
        return self.rr_scaler.transform(beats.rr) if self.rr_scaler is not None else None

    def inputs(self, beats: BeatSet) -> np.ndarray:
        """The model's x: the beat windows (n, time, channels), or with data.context_beats = K the neighbourhood of every
        beat (n, 2K+1, time' * channels + RR features + 1): each neighbour's window, standardised RR context and a 1/0 flag."""
        k = self.config.context_beats
        if k <= 0:
            return beats.x
        context = beats.context if beats.context is not None else beats.with_context(k, self.config.context_decimate).context
        n, steps = context.valid.shape
        rr = self.rr_scaler.transform(context.rr.reshape(n * steps, -1)).reshape(n, steps, -1) if self.rr_scaler else context.rr[..., :0]
        valid = context.valid[..., None].astype(np.float32)
        return np.concatenate([context.x.reshape(n, steps, -1).astype(np.float32), rr * valid, valid], axis=-1)

    def model_sizes(self, beats: BeatSet) -> dict[str, int]:
        """Sizes the model is built with: input width, RR inputs, and for the rhythm model the per-beat window layout."""
        sizes = {"input_size": int(beats.x.shape[2]), "num_static": len(RR_FEATURE_NAMES) if self.rr_scaler else 0}
        if self.config.context_beats > 0:
            window = beats.x[:1, :: self.config.context_decimate]
            sizes.update(input_size=int(self.inputs(beats.subset(np.arange(min(len(beats), 3)))).shape[2]),
                         beat_window=int(window.shape[1]), beat_channels=int(window.shape[2]))  # fmt: skip
        return sizes

    def state_dict(self) -> dict[str, Any]:
        # how beats are cut, without the training, validation and test record lists: record ids stay out of the artifact
        return {"beats": self.config.model_dump(mode="json", exclude=set(RECORD_LISTS)),
                "rr_scaler": self.rr_scaler.state_dict() if self.rr_scaler else None,
                "rr_feature_names": list(RR_FEATURE_NAMES) if self.rr_scaler else [], "label_names": list(self.label_names),
                "decision_weights": self.decision_weights}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> BeatPipeline:
        scaler = Standardizer.from_state(state["rr_scaler"]) if state.get("rr_scaler") else None
        weights = state.get("decision_weights")  # tuned weights are re-tuned when an ensemble of such models is built
        return cls(BeatDataConfig.model_validate(state["beats"]), scaler, list(state.get("label_names", AAMI_CLASSES)),
                   decision_weights=weights, tune_decision=weights is not None)  # fmt: skip

    def compatibility(self) -> dict[str, Any]:
        cut = self.config.model_dump(mode="json", exclude=set(RECORD_LISTS))
        return {**super().compatibility(), "beats": cut}
