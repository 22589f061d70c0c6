"""The fitted preprocessing of a coded-visit model: the code vocabulary and (next_visit_diagnosis) the label set,
both fitted on the training patients only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medrnn.errors import ConfigError
from medrnn.records import VisitSequence
from medrnn.tasks.base import Pipeline
from medrnn.tasks.ehr_visits.config import VisitDataConfig
from medrnn.tasks.ehr_visits.targets import TARGETS, EhrSampleSet, NextVisitDiagnosisTask
from medrnn.transforms.codes import CodeVocabulary

MODALITIES = ("codes", "labs")  # a fusion model's modalities: diagnoses/procedures/prescriptions, abnormal lab items
LAB_PREFIX = "LAB:"


@dataclass
class VisitPipeline(Pipeline):
    """Vocabulary (multi-hot inputs), target name and, for next_visit_diagnosis, its fitted label codes.

    Its state keeps the keys of the artifacts written before the Task contract (vocabulary, task, task_state,
    code_sources), so those artifacts load as they are.
    """

    vocab: CodeVocabulary
    target: str  # a key of TARGETS (data.task)
    label_task: NextVisitDiagnosisTask | None
    code_sources: list[str]
    label_names: list[str]
    output_kind: str = "binary"
    threshold: float | None = None

    @classmethod
    def fit(cls, train_patients: list[VisitSequence], config: VisitDataConfig) -> VisitPipeline:
        """Fit the label set (next_visit_diagnosis: top-k training diagnoses) and the vocabulary on training patients."""
        label_task = None
        if config.task == NextVisitDiagnosisTask.name:
            label_task = NextVisitDiagnosisTask(k=config.top_k_labels).fit(train_patients)
        vocab = CodeVocabulary(min_count=config.min_code_count).fit(train_patients)
        return cls._make(vocab, config.task, label_task, list(config.code_sources))

    @classmethod
    def _make(cls, vocab: CodeVocabulary, target: str, label_task: NextVisitDiagnosisTask | None, code_sources: list[str]) -> VisitPipeline:
        if label_task is not None:
            return cls(vocab, target, label_task, code_sources, list(label_task.label_codes_), "multilabel")
        return cls(vocab, target, None, code_sources, [target], "binary")

    def modality_groups(self) -> list[int]:
        """Per vocabulary column, its modality in MODALITIES: 1 for lab items (LAB:<itemid>), 0 for every other code."""
        return [int(code.startswith(LAB_PREFIX)) for code in self.vocab.codes_]

    def inputs(self, samples: EhrSampleSet) -> list[np.ndarray]:
        """Multi-hot visits (n_visits, vocab) float32 of every sample; codes unseen in training set the <unk> column."""
        return [self.vocab.multi_hot(s.visits) for s in samples.samples]

    def labels(self, samples: EhrSampleSet) -> np.ndarray:
        """(n, outputs) float64: 0/1 for binary targets, the multi-hot over the label codes for next_visit_diagnosis."""
        if self.label_task is not None:
            rows = [self.label_task.label(s.target_codes) for s in samples.samples]
            return np.stack(rows).astype(np.float64) if rows else np.zeros((0, len(self.label_names)))
        return np.asarray([s.label for s in samples.samples], dtype=np.float64).reshape(len(samples), 1)

    def state_dict(self) -> dict[str, Any]:
        return {"vocabulary": self.vocab.state_dict(), "task": self.target,
                "task_state": self.label_task.state_dict() if self.label_task is not None else None,
                "code_sources": list(self.code_sources), "label_names": list(self.label_names),
                "output_kind": self.output_kind}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> VisitPipeline:
        target = str(state["task"])
        if target not in TARGETS:
            raise ConfigError(f"preprocessing field 'task' is {target!r}; expected one of {', '.join(TARGETS)}")
        label_task = NextVisitDiagnosisTask.from_state_dict(state["task_state"]) if state.get("task_state") else None
        return cls._make(CodeVocabulary.from_state_dict(state["vocabulary"]), target, label_task, list(state["code_sources"]))

    def compatibility(self) -> dict[str, Any]:
        return {**super().compatibility(), "target": self.target, "code_sources": list(self.code_sources)}
