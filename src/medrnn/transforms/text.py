"""Clinical text -> tokens with character offsets -> ids (train-only vocabulary) -> windows a recurrent model can read.

Nothing is truncated silently: a document longer than the model's window is cut into chunks that together cover
every token, and the model's per-chunk outputs are merged per document by `merge_chunk_outputs` (max over chunks,
as a code is present when any part of the document evidences it). Truncation is possible only when asked for
(`max_chunks`), and then counted in the `ChunkReport`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from medrnn.errors import ConfigError, InvalidRecordError, ShapeError
from medrnn.transforms.vocabulary import TokenVocabulary

logger = logging.getLogger(__name__)

LANGUAGES: tuple[str, ...] = ("es", "en")
PAD, UNK = "<pad>", "<unk>"
SPECIALS: tuple[str, ...] = (PAD, UNK)


class Token(NamedTuple):
    """One token: its normalised text and [start, end) character offsets into the original document."""

    text: str
    start: int
    end: int


class ClinicalTokenizer:
    """Rule tokenizer for Spanish and English clinical text, built on HuggingFace `tokenizers` (Rust).

    Normalisation: NFKC, then lower case (optional); accents are kept, since in Spanish they carry meaning
    (`está`/`esta`, `próstata`). Splitting: on whitespace, then every punctuation character is its own token
    (`p.ej.` -> p . ej .; `mg/dl` -> mg / dl), then digit runs are split from letters (`i82.90` -> i 82 . 90,
    `5mg` -> 5 mg). The same Unicode rules serve both languages; `language` is recorded and checked against the
    records tokenised. Every token carries its offsets into the *original* text (`text[start:end]`), which is
    what maps attention back to CodiEsp evidence spans. One NFKC character that expands to several tokens (`½`
    -> 1 ⁄ 2) gives each of them the same offsets.

    Why not spaCy: its tokenizer needs a language package per language (a model download, not possible offline),
    and it is several times slower; `tokenizers` ships as one wheel, keeps offsets through normalisation, and is
    what a later sub-word model would use anyway.
    """

    def __init__(self, language: str = "es", lowercase: bool = True) -> None:
        self.language = language
        self.lowercase = lowercase
        if language not in LANGUAGES:
            raise ConfigError(f"language {language!r}: expected one of {list(LANGUAGES)}")
        from tokenizers import normalizers, pre_tokenizers

        steps = [normalizers.NFKC(), *([normalizers.Lowercase()] if lowercase else [])]
        self._normalizer = normalizers.Sequence(steps)
        self._pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(), pre_tokenizers.Digits(individual_digits=False)]
        )

    def tokenize_with_offsets(self, text: str) -> list[Token]:
        """Tokens of `text` with [start, end) character offsets into `text` itself."""
        from tokenizers import PreTokenizedString

        if not isinstance(text, str):
            raise InvalidRecordError(f"tokenizer input must be a str, got {type(text).__name__}")
        pieces = PreTokenizedString(text)
        pieces.normalize(self._normalizer.normalize)
        self._pre_tokenizer.pre_tokenize(pieces)
        return [Token(s, start, end) for s, (start, end), _ in pieces.get_splits(offset_referential="original", offset_type="char")]

    def tokenize(self, text: str) -> list[str]:
        """Normalised token texts of `text`."""
        return [t.text for t in self.tokenize_with_offsets(text)]

    def tokenize_record(self, record: Any) -> list[Token]:
        """Tokens of a NoteRecord's text; a record in another language than this tokenizer's raises."""
        language = getattr(record, "language", self.language)
        if language != self.language:
            raise ConfigError(f"note {getattr(record, 'note_id', '?')!r} is in {language!r}, the tokenizer is for {self.language!r}")
        return self.tokenize_with_offsets(record.text)

    def state_dict(self) -> dict[str, Any]:
        """Plain-type settings, saved with the model."""
        return {"language": self.language, "lowercase": self.lowercase}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> ClinicalTokenizer:
        """Rebuild from `state_dict()`."""
        return cls(str(state["language"]), bool(state.get("lowercase", True)))


class TextVocabulary(TokenVocabulary):
    """Token <-> id map fitted on training documents only; unseen tokens map to <unk> (id 1) and are counted.

    Id 0 is <pad>, 1 is <unk>; then tokens seen at least `min_count` times, by descending training count (ties in
    alphabetical order), at most `max_size` of them (specials not included in `max_size`).
    """

    SPECIALS = SPECIALS
    fitted_on = "the training documents' tokens"

    def __init__(self, min_count: int = 1, max_size: int | None = None) -> None:
        self.min_count = min_count
        self.max_size = max_size

    def fit(self, token_lists: Iterable[Sequence[str]]) -> TextVocabulary:
        """Learn the vocabulary from the training documents' tokens (never from validation or test)."""
        if self.min_count < 1 or (self.max_size is not None and self.max_size < 0):
            raise ConfigError(f"min_count must be >= 1 and max_size None or >= 0, got {self.min_count}, {self.max_size}")
        counts, kept = self._fit_tokens(token_lists, self.min_count, self.max_size)
        self.counts_ = [int(counts[t]) for t in kept]
        self.n_train_tokens_ = int(sum(counts.values()))
        self.n_train_unknown_ = int(sum(n for t, n in counts.items() if t not in self.index_))  # cut by min_count / max_size
        return self

    def encode(self, tokens: Sequence[str]) -> tuple[np.ndarray, int]:
        """Token ids (int64, shape (n_tokens,)) and how many tokens were unknown (mapped to <unk>)."""
        return self._ids(tokens)

    def state_dict(self) -> dict[str, Any]:
        """Plain lists and numbers only (JSON- and safetensors-metadata-safe)."""
        self._fitted()
        return {"min_count": self.min_count, "max_size": self.max_size, "tokens": list(self.tokens_), "counts": list(self.counts_),
                "n_train_tokens": self.n_train_tokens_, "n_train_unknown": self.n_train_unknown_}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> TextVocabulary:
        """Rebuild a fitted vocabulary from `state_dict()`; a state without the specials first raises."""
        vocab = cls(int(state.get("min_count", 1)), state.get("max_size"))
        vocab._set_tokens(list(state["tokens"]))
        vocab.counts_ = [int(n) for n in state.get("counts", [0] * (len(vocab.tokens_) - len(SPECIALS)))]
        vocab.n_train_tokens_ = int(state.get("n_train_tokens", 0))
        vocab.n_train_unknown_ = int(state.get("n_train_unknown", 0))
        return vocab


def chunk(ids: Sequence[int] | np.ndarray | int, window: int, stride: int | None = None) -> list[tuple[int, int]]:
    """[start, end) windows over a document of `len(ids)` tokens (or `ids` tokens when an int).

    stride == window (the default): consecutive, non-overlapping windows that cover every token exactly once; the
    last one may be shorter. stride < window: overlapping windows starting every `stride` tokens, the last one ending
    at the document's end (every token covered at least once; outputs merged by max, so overlap cannot double-count).
    stride > window would skip tokens and raises. An empty document gets one empty window (0, 0), so that every
    document yields one prediction.
    """
    n = int(ids) if isinstance(ids, (int, np.integer)) else len(ids)
    stride = window if stride is None else stride
    if window < 1 or stride < 1 or stride > window:
        raise ConfigError(f"chunk: need window >= 1 and 1 <= stride <= window (no token skipped), got window={window}, stride={stride}")
    if n <= window:
        return [(0, n)]
    if stride == window:
        return [(s, min(s + window, n)) for s in range(0, n, window)]
    windows = [(s, s + window) for s in range(0, n - window + 1, stride)]
    if windows[-1][1] < n:  # the tail: one more full window ending at the last token
        windows.append((n - window, n))
    return windows


@dataclass
class ChunkReport:
    """How documents were cut: documents, chunks, documents that needed more than one, and any truncation asked for."""

    window: int
    stride: int
    n_documents: int = 0
    n_chunks: int = 0
    n_chunked_documents: int = 0  # documents longer than the window (more than one chunk)
    max_chunks_per_document: int = 0
    n_truncated_documents: int = 0  # only with max_chunks: documents that lost their tail
    n_truncated_tokens: int = 0  # tokens not covered by any kept chunk

    def to_dict(self) -> dict[str, int]:
        """JSON-ready dict."""
        return asdict(self)


class Chunks(NamedTuple):
    """Windows of many documents, flattened: chunk i is `ids[document[i]][start[i]:end[i]]`."""

    document: np.ndarray  # (n_chunks,) int64, index of the document each chunk comes from
    start: np.ndarray  # (n_chunks,) int64
    end: np.ndarray  # (n_chunks,) int64


def chunk_documents(
    lengths: Iterable[int], window: int, stride: int | None = None, max_chunks: int | None = None
) -> tuple[Chunks, ChunkReport]:
    """Chunk every document (given by its token count); `max_chunks` keeps only the first chunks, counting what is lost."""
    stride = window if stride is None else stride
    if max_chunks is not None and max_chunks < 1:
        raise ConfigError(f"max_chunks must be None (no truncation) or >= 1, got {max_chunks}")
    report = ChunkReport(window=window, stride=stride)
    document, start, end = [], [], []
    for i, n in enumerate(lengths):
        windows = chunk(int(n), window, stride)
        report.n_documents += 1
        report.n_chunked_documents += len(windows) > 1
        report.max_chunks_per_document = max(report.max_chunks_per_document, len(windows))
        if max_chunks is not None and len(windows) > max_chunks:
            windows = windows[:max_chunks]
            report.n_truncated_documents += 1
            report.n_truncated_tokens += int(n) - windows[-1][1]
        report.n_chunks += len(windows)
        document.extend([i] * len(windows))
        start.extend(s for s, _ in windows)
        end.extend(e for _, e in windows)
    if report.n_truncated_documents:
        logger.warning("truncation: %d document(s) cut to %d chunks of %d tokens, %d tokens dropped", report.n_truncated_documents,
                       max_chunks, window, report.n_truncated_tokens)  # fmt: skip
    as_array = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return Chunks(as_array(document), as_array(start), as_array(end)), report


def merge_chunk_outputs(outputs: np.ndarray, document: np.ndarray, n_documents: int | None = None) -> np.ndarray:
    """Per-document outputs (n_documents, ...) as the max over each document's chunks (outputs (n_chunks, ...))."""
    outputs, document = np.asarray(outputs), np.asarray(document, dtype=np.int64)
    if outputs.shape[:1] != document.shape:
        raise ShapeError(f"merge_chunk_outputs: {outputs.shape[0]} chunk outputs but {document.shape[0]} document indices")
    n_documents = int(document.max()) + 1 if n_documents is None else n_documents
    merged = np.full((n_documents, *outputs.shape[1:]), -np.inf, dtype=np.result_type(outputs.dtype, np.float32))
    np.maximum.at(merged, document, outputs)
    missing = np.setdiff1d(np.arange(n_documents), document)
    if missing.size:
        raise ShapeError(f"merge_chunk_outputs: document(s) {missing[:10].tolist()} have no chunk output")
    return merged
