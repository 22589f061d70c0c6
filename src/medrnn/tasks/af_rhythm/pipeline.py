"""The preprocessing of an AF model: how a record becomes model input (rate, band-pass, downsampling) and the classes.

Nothing is fitted on data: each record is scaled by its own median and SD, so the state is the data config alone and a
new record is read exactly as the training ones were."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medrnn.tasks.af_rhythm.config import AfDataConfig
from medrnn.tasks.af_rhythm.data import CLASSES
from medrnn.tasks.base import Pipeline

# which records a run used, not how a record is read: left out of the artifact's preprocessing state
SPLIT_FIELDS = ("dataset", "protocol", "split_sizes", "split_seed", "folds", "fold", "val_fraction", "max_records")


@dataclass
class AfPipeline(Pipeline):
    """How records are read into model input, and the class names."""

    config: AfDataConfig
    label_names: list[str]
    output_kind: str = "multiclass"
    threshold: float | None = None

    @classmethod
    def fit(cls, config: AfDataConfig) -> AfPipeline:
        return cls(config, list(CLASSES))

    def state_dict(self) -> dict[str, Any]:
        return {"data": self.config.model_dump(mode="json", exclude=set(SPLIT_FIELDS)), "label_names": list(self.label_names)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> AfPipeline:
        return cls(AfDataConfig.model_validate(state["data"]), list(state["label_names"]))

    def compatibility(self) -> dict[str, Any]:
        return {**super().compatibility(), "input": self.state_dict()["data"]}
