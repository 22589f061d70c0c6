"""Vocabulary of medical codes ("<system>:<code>"), fitted on training patients only, and multi-hot visit encoding."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from medrnn.errors import ConfigError, NotFittedError
from medrnn.records import VisitSequence

UNK = "<unk>"


class CodeVocabulary:
    """Code -> index, with `<unk>` at index 0 for codes unseen in training or rarer than `min_count`.

    A code is counted once per admission it appears in. `<unk>` is a real column of the multi-hot encoding (it
    counts in `len(vocab)`), so a visit of unseen codes is not an empty vector. Fit it on the training patients of
    a patient split only: codes that exist only in validation or test patients must map to `<unk>`.
    """

    def __init__(self, min_count: int = 1, max_size: int | None = None) -> None:
        self.min_count = min_count
        self.max_size = max_size

    def fit(self, patients: Iterable[VisitSequence]) -> CodeVocabulary:
        """Count codes over the admissions of `patients` (the training patients) and keep the frequent ones."""
        if self.min_count < 1:
            raise ConfigError(f"min_count={self.min_count}; expected an integer >= 1")
        if self.max_size is not None and self.max_size < 1:
            raise ConfigError(f"max_size={self.max_size}; expected None (no limit) or an integer >= 1")
        counts: Counter[str] = Counter()
        for patient in patients:
            for admission in patient.admissions:
                counts.update(set(admission.codes))
        # most frequent first, ties by code: the same training set always gives the same indices
        kept = sorted((c for c, n in counts.items() if n >= self.min_count), key=lambda c: (-counts[c], c))
        kept = kept[: self.max_size - 1] if self.max_size is not None else kept
        self.codes_ = [UNK, *kept]
        unk = sum(counts.values()) - sum(counts[c] for c in kept)  # training occurrences of codes that map to <unk>
        self.counts_ = [unk, *(counts[c] for c in kept)]
        self.index_ = {c: i for i, c in enumerate(self.codes_)}
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise NotFittedError("CodeVocabulary is not fitted; call fit(train_patients) or from_state_dict(...) first")

    def __len__(self) -> int:
        self._check_fitted()
        return len(self.codes_)

    def __contains__(self, code: object) -> bool:
        self._check_fitted()
        return code in self.index_ and code != UNK

    def encode(self, codes: Sequence[str]) -> list[int]:
        """Indices of `codes` (0 = `<unk>`), in order."""
        self._check_fitted()
        return [self.index_.get(c, 0) for c in codes]

    def multi_hot(self, visits: Sequence[Sequence[str]]) -> np.ndarray:
        """(n_visits, len(self)) float32: 1 where the visit has the code; unknown codes set the `<unk>` column."""
        self._check_fitted()
        out = np.zeros((len(visits), len(self.codes_)), dtype=np.float32)
        for row, codes in enumerate(visits):
            out[row, self.encode(codes)] = 1.0
        return out

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-ready state (lists and ints) to store inside a model artifact."""
        self._check_fitted()
        return {
            "min_count": self.min_count,
            "max_size": self.max_size,
            "codes": list(self.codes_),
            "counts": [int(n) for n in self.counts_],
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> CodeVocabulary:
        """Rebuild a fitted vocabulary from `state_dict()` output."""
        codes = list(state["codes"])
        if not codes or codes[0] != UNK or len(set(codes)) != len(codes) or len(state["counts"]) != len(codes):
            raise ConfigError(f"not a CodeVocabulary state: 'codes' must start with {UNK!r}, be unique and match 'counts' in length")
        vocab = cls(int(state["min_count"]), state.get("max_size"))
        vocab.codes_, vocab.counts_ = codes, [int(n) for n in state["counts"]]
        vocab.index_ = {c: i for i, c in enumerate(codes)}
        return vocab
