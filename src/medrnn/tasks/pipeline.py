"""The fitted preprocessing every task defines: `Pipeline` (state saved in the artifact) and `ConfigPipeline` (a
pipeline that is only its config). Re-exported by `medrnn.tasks.base`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

OutputKind = Literal["multiclass", "binary", "multilabel", "regression"]


class Pipeline:
    """Preprocessing fitted on the training samples only; its JSON state goes into the artifact.

    Subclasses hold the world's vocabularies, scalers and label sets, and set `label_names` and `output_kind`.
    `threshold` is the decision threshold of binary/multilabel tasks (tuned on validation), else None; `decision_weights`
    the per-class weights on a multiclass task's probabilities (the class is argmax of w * p, tuned on validation), else None.
    """

    label_names: list[str]
    output_kind: OutputKind
    threshold: float | None = None
    decision_weights: list[float] | None = None

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state, enough to rebuild the pipeline with `from_state_dict` and no training data."""
        raise NotImplementedError

    def tokens(self) -> list[str] | None:
        """The input vocabulary in id order (what the model's embedding rows stand for), or None (not token input)."""
        vocab = getattr(self, "vocab", None)
        return list(getattr(vocab, "tokens_", None) or getattr(vocab, "codes_", None) or []) or None

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Pipeline:
        """Inverse of `state_dict`."""
        raise NotImplementedError

    def compatibility(self) -> dict[str, Any]:
        """What ensemble members must share to be averaged (labels and input reading); default: labels and kind."""
        return {"label_names": list(self.label_names), "output_kind": self.output_kind}

    def tuned_state(self) -> dict[str, Any]:
        """JSON state `Task.tune` set beyond `threshold` and `decision_weights` (an ensemble keeps its own); default none."""
        return {}

    def load_tuned_state(self, state: dict[str, Any]) -> None:
        """Inverse of `tuned_state` (an ensemble's, over its first member's copy)."""


@dataclass
class ConfigPipeline(Pipeline):
    """A pipeline with nothing fitted: how an input is read (some fields of the data config) and the label names.

    Subclasses name the config class and the fields that say how an input is read; the split settings (which
    records a run used) stay out of the artifact.
    """

    config: Any
    label_names: list[str]
    output_kind: OutputKind = "multiclass"
    threshold: float | None = None
    config_class: ClassVar[Any]
    input_fields: ClassVar[tuple[str, ...]]

    def state_dict(self) -> dict[str, Any]:
        return {"input": self.config.model_dump(mode="json", include=set(self.input_fields)), "label_names": list(self.label_names)}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> ConfigPipeline:
        return cls(cls.config_class.model_validate(state["input"]), list(state["label_names"]))

    def compatibility(self) -> dict[str, Any]:
        return {**super().compatibility(), "input": self.state_dict()["input"]}
