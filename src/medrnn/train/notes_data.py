"""Notes -> arrays for the ICD coding job: tokens, a training-only vocabulary and label set, label matrices, and the
gold codes no model trained on these labels can ever predict (counted, never hidden)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from medrnn import paths
from medrnn.errors import ConfigError
from medrnn.records import NoteRecord
from medrnn.tasks.icd_coding.config import NotesDataConfig
from medrnn.transforms.text import ClinicalTokenizer, TextVocabulary, Token

SPLITS: tuple[str, ...] = ("train", "dev", "test")


def resolve_root(data: str) -> Path:
    """A dataset name under the data root (codiesp) or a path to a CodiEsp folder."""
    path = Path(data).expanduser()
    return path if path.exists() else paths.dataset_dir(data)


def fit_labels(train: list[NoteRecord], min_count: int = 1) -> tuple[list[str], np.ndarray, dict[str, int]]:
    """Label set = codes of the training documents seen in at least `min_count` of them (sorted by code).

    Returns (label names, training document count per label, {code: count} of the codes left out by `min_count`).
    """
    counts = Counter(c for r in train for c in set(r.codes))
    names = sorted(c for c, n in counts.items() if n >= min_count)
    if not names:
        raise ConfigError(f"no training code is seen in {min_count} or more documents; lower data.min_label_count")
    dropped = {c: n for c, n in sorted(counts.items()) if n < min_count}
    return names, np.array([counts[c] for c in names], dtype=np.int64), dropped


def label_matrix(records: list[NoteRecord], names: list[str]) -> np.ndarray:
    """Multi-hot gold codes (n_records, n_labels) over the label set; codes outside it are not representable (see `unseen_gold`)."""
    index = {c: i for i, c in enumerate(names)}
    y = np.zeros((len(records), len(names)), dtype=np.float32)
    for row, record in enumerate(records):
        for code in record.codes:
            if code in index:
                y[row, index[code]] = 1.0
    return y


def unseen_gold(records: list[NoteRecord], names: list[str]) -> dict[str, Any]:
    """Gold (document, code) pairs whose code is not a label: they can never be predicted, so they cap recall."""
    known = set(names)
    pairs = [(r.note_id, c) for r in records for c in r.codes]
    unseen = [(d, c) for d, c in pairs if c not in known]
    return {"gold_pairs": len(pairs), "unseen_pairs": len(unseen), "unseen_share": len(unseen) / len(pairs) if pairs else 0.0,
            "unseen_codes": len({c for _, c in unseen}), "documents_with_unseen": len({d for d, _ in unseen}),
            "gold_codes": len({c for _, c in pairs})}  # fmt: skip


@dataclass
class NotesData:
    """Every split as records, tokens (with offsets), token ids and label matrices; fitted state ends in `_`."""

    records: dict[str, list[NoteRecord]]
    tokens: dict[str, list[list[Token]]]
    ids: dict[str, list[np.ndarray]]
    y: dict[str, np.ndarray]
    tokenizer_: ClinicalTokenizer
    vocab_: TextVocabulary
    label_names_: list[str]
    label_counts_: np.ndarray  # (n_labels,) training documents per label
    report: dict[str, Any]


def prepare_notes(records: list[NoteRecord], config: NotesDataConfig) -> NotesData:
    """Group records by their official split, fit tokenizer vocabulary and label set on train only, encode every split."""
    by_split = {s: [r for r in records if r.split == s] for s in SPLITS}
    for name, part in by_split.items():
        if not part:
            raise ConfigError(f"no {name} documents in {config.data!r}; CodiEsp's official train/dev/test folders are all needed")
    tokenizer = ClinicalTokenizer(config.language)
    tokens = {s: [tokenizer.tokenize_record(r) for r in part] for s, part in by_split.items()}
    texts = {s: [[t.text for t in doc] for doc in docs] for s, docs in tokens.items()}
    vocab = TextVocabulary(min_count=config.min_token_count).fit(texts["train"])
    names, counts, dropped = fit_labels(by_split["train"], config.min_label_count)
    ids, unknown = {}, {}
    for s in SPLITS:
        encoded = [vocab.encode(doc) for doc in texts[s]]
        ids[s] = [e[0] for e in encoded]
        unknown[s] = int(sum(e[1] for e in encoded))
    report = {
        "documents": {s: len(v) for s, v in by_split.items()},
        "tokens": {s: int(sum(len(d) for d in v)) for s, v in texts.items()},
        "max_tokens": {s: int(max(len(d) for d in v)) for s, v in texts.items()},
        "unknown_tokens": unknown,  # tokens mapped to <unk> (train: cut by min_token_count)
        "empty_documents": {s: sum(len(d) == 0 for d in v) for s, v in texts.items()},
        "vocabulary_size": len(vocab),
        "labels": {"count": len(names), "min_label_count": config.min_label_count, "dropped_below_min_count": len(dropped),
                   "dropped_codes": list(dropped)[:50]},
        "unseen_gold": {s: unseen_gold(by_split[s], names) for s in ("dev", "test")},
    }  # fmt: skip
    y = {s: label_matrix(part, names) for s, part in by_split.items()}
    return NotesData(by_split, tokens, ids, y, tokenizer, vocab, names, counts, report)


def train_word2vec(token_lists: list[list[str]], vocab: TextVocabulary, dim: int, seed: int = 0,
                   epochs: int = 10) -> tuple[np.ndarray, int]:  # fmt: skip
    """word2vec (CBOW, gensim, one worker: reproducible) on the training documents only, as an embedding matrix for `vocab`.

    Returns (matrix (len(vocab), dim) float32, rows found in word2vec); tokens word2vec has no vector for (the
    specials, and tokens `vocab` kept but word2vec did not) keep small random vectors; row 0 (<pad>) is zero.
    """
    try:
        from gensim.models import Word2Vec
    except ImportError as err:
        raise ConfigError("data.embeddings='word2vec' needs gensim (pip install 'gensim>=4.3'); or set data.embeddings='none'") from err
    logging.getLogger("gensim").setLevel(logging.WARNING)  # its per-epoch INFO lines would bury the run's own log
    w2v = Word2Vec(sentences=token_lists, vector_size=dim, window=5, min_count=vocab.min_count, workers=1, seed=seed, epochs=epochs)
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-0.5 / dim, 0.5 / dim, size=(len(vocab), dim)).astype(np.float32)
    found = 0
    for i, token in enumerate(vocab.tokens_):
        if token in w2v.wv.key_to_index:
            matrix[i] = w2v.wv[token]
            found += 1
    matrix[0] = 0.0
    return matrix, found
