"""The fitted preprocessing of a notes coder: tokenizer, training-only vocabulary and label set, window, dev threshold."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medrnn.errors import ConfigError
from medrnn.tasks.base import Pipeline
from medrnn.tasks.icd_coding.config import NotesDataConfig
from medrnn.tasks.icd_coding.data import NoteSet, fit_labels, fit_vocabulary
from medrnn.tasks.icd_coding.descriptions import DescribedScores, DescriptionRanker
from medrnn.transforms.text import ClinicalTokenizer, TextVocabulary


@dataclass
class NotesPipeline(Pipeline):
    """Tokenizer and vocabulary (fitted on the training notes), label names and counts, window and decision threshold.

    The state keeps the keys of artifacts written by `medrnn train notes` before the Task contract (tokenizer,
    vocabulary, window, threshold, ...), plus `label_names`.
    """

    tokenizer: ClinicalTokenizer
    vocab: TextVocabulary
    label_names: list[str]
    label_counts: np.ndarray  # (n_labels,) training documents per label
    window: int
    code_types: list[str]
    threshold: float | None = None
    output_kind: str = "multilabel"
    min_doc_freq: int | None = None  # training documents a word needed to enter the vocabulary (None: an older artifact)
    descriptions: DescriptionRanker | None = None  # codes outside the label set ranked from their titles (data.code_descriptions)
    dropped_labels: dict[str, int] = field(default_factory=dict)  # codes under min_label_count (fit only, not saved)
    tuning_: dict[str, Any] = field(default_factory=dict)  # what `tune` found on dev (this run only, not saved)

    @classmethod
    def fit(cls, train: NoteSet, config: NotesDataConfig) -> NotesPipeline:
        """Vocabulary (words of `min_doc_freq` documents or more) and label set from the training notes only."""
        vocab = fit_vocabulary(train.token_texts(), config.min_token_count, config.min_doc_freq)
        names, counts, dropped = fit_labels(train.records or [], config.min_label_count)
        ranker = None
        if config.catalogue is not None:  # calibrated later, on dev, with the coder's dev probabilities (IcdCodingTask.tune)
            ranker = DescriptionRanker.fit(config.catalogue, train.texts, names, counts, top_k=config.description_top_k)
        return cls(ClinicalTokenizer(config.language), vocab, names, counts, config.window, list(config.code_types),
                   min_doc_freq=config.min_doc_freq, descriptions=ranker, dropped_labels=dropped)  # fmt: skip

    def describe(self, texts: list[str], probs: np.ndarray) -> DescribedScores | None:
        """The codes outside the label set ranked for each note from their titles (None without a calibrated ranker);
        `probs` are the coder's (notes, labels) probabilities of those notes."""
        if self.descriptions is None or self.descriptions.coef is None:
            return None
        return self.descriptions.score(texts, probs)

    def tuned_state(self) -> dict[str, Any]:
        return {"descriptions_calibration": self.descriptions.calibration_state()} if self.descriptions is not None else {}

    def load_tuned_state(self, state: dict[str, Any]) -> None:
        if self.descriptions is not None and state.get("descriptions_calibration"):
            self.descriptions = self.descriptions.with_calibration(state["descriptions_calibration"])

    def adopt_vocabulary(self, source: dict[str, Any]) -> bool:
        """Take a transfer source's vocabulary when it tokenizes alike (a `medrnn pretrain notes` artifact: every training
        note's words, labelled or not), so each of its embedding rows has a place; True when taken."""
        if not source.get("vocabulary") or source.get("tokenizer") != self.tokenizer.state_dict():
            return False
        self.vocab = TextVocabulary.from_state_dict(source["vocabulary"])
        return True

    def encode(self, notes: NoteSet) -> list[np.ndarray]:
        """Token ids of every note (unknown tokens -> <unk>); notes tokenized in another language are refused."""
        if notes.language != self.tokenizer.language:
            raise ConfigError(f"notes tokenized as {notes.language!r}, the model reads {self.tokenizer.language!r}")
        return [self.vocab.encode(doc)[0] for doc in notes.token_texts()]

    def state_dict(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.state_dict(), "vocabulary": self.vocab.state_dict(), "window": self.window,
                "threshold": self.threshold, "threshold_tuned_on": "dev", "language": self.tokenizer.language,
                "code_types": list(self.code_types), "label_counts": self.label_counts.tolist(),
                "label_names": list(self.label_names), "min_doc_freq": self.min_doc_freq,
                **({"descriptions": self.descriptions.state_dict()} if self.descriptions is not None else {})}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> NotesPipeline:
        threshold, min_doc_freq = state.get("threshold"), state.get("min_doc_freq")
        ranker = DescriptionRanker.from_state_dict(state["descriptions"]) if state.get("descriptions") else None
        return cls(ClinicalTokenizer.from_state_dict(state["tokenizer"]), TextVocabulary.from_state_dict(state["vocabulary"]),
                   list(state["label_names"]), np.asarray(state.get("label_counts", []), dtype=np.int64), int(state["window"]),
                   list(state.get("code_types", ["D"])), None if threshold is None else float(threshold),
                   min_doc_freq=None if min_doc_freq is None else int(min_doc_freq),
                   descriptions=ranker)  # fmt: skip

    def compatibility(self) -> dict[str, Any]:
        """Ensemble members must code the same labels and tokenize alike (evidence offsets must line up); each keeps its
        own vocabulary and window."""
        return {**super().compatibility(), "tokenizer": self.tokenizer.state_dict()}
