"""The token <-> id map that SMILES and clinical-text vocabularies share: specials first, then the training tokens by
descending count (ties alphabetical); fitted on training data only, unseen tokens map to <unk> and are counted.

Subclasses set `SPECIALS` (their first entry is padding, the second <unk>) and keep their own saved-state format,
so artifacts written before this base existed still load.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import ClassVar

import numpy as np

from medrnn.errors import InvalidRecordError, NotFittedError


class TokenVocabulary:
    """Fitted state: `tokens_` (specials first), `index_` (token -> id) and the training `Counter` in `fit`."""

    SPECIALS: ClassVar[tuple[str, ...]] = ("<pad>", "<unk>")
    fitted_on: ClassVar[str] = "the training tokens"  # named in the not-fitted error

    def _fit_tokens(self, token_lists: Iterable[Sequence[str]], min_count: int, max_size: int | None = None) -> tuple[Counter, list[str]]:
        """Count the training tokens, keep those seen `min_count` times (at most `max_size`), set tokens_/index_."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        kept = sorted((t for t, n in counts.items() if n >= min_count and t not in self.SPECIALS), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size]
        self._set_tokens([*self.SPECIALS, *kept])
        return counts, kept

    def _set_tokens(self, tokens: list[str]) -> None:
        """Install a token list (specials first, checked) as the fitted state."""
        head = tokens[: len(self.SPECIALS)]
        if head != list(self.SPECIALS):
            raise InvalidRecordError(f"{type(self).__name__} state: first tokens must be {list(self.SPECIALS)}, got {head}")
        self.tokens_, self.index_ = tokens, {t: i for i, t in enumerate(tokens)}

    def _fitted(self) -> None:
        if not hasattr(self, "tokens_"):
            raise NotFittedError(f"{type(self).__name__} used before fit(); fit it on {self.fitted_on}")

    def __len__(self) -> int:
        self._fitted()
        return len(self.tokens_)

    def _ids(self, tokens: Sequence[str]) -> tuple[np.ndarray, int]:
        """Token ids (int64) and how many tokens were unknown (mapped to <unk>, id 1)."""
        self._fitted()
        unk = self.index_[self.SPECIALS[1]]
        ids = np.fromiter((self.index_.get(t, unk) for t in tokens), dtype=np.int64, count=len(tokens))
        return ids, int(sum(1 for t in tokens if t not in self.index_))

    def unknown_tokens(self, token_lists: Iterable[Sequence[str]]) -> Counter:
        """Counts of tokens not in the vocabulary, for the run report."""
        self._fitted()
        return Counter(t for tokens in token_lists for t in tokens if t not in self.index_)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Token texts of ids."""
        self._fitted()
        return [self.tokens_[int(i)] for i in ids]
