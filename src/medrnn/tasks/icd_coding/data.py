"""Notes -> samples for ICD coding: CodiEsp records with their tokens (character offsets), a training-only label set,
label matrices, the gold codes no model trained on these labels can ever predict (counted, never hidden), and word2vec
vectors trained on the training text."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from medrnn.errors import ConfigError
from medrnn.records import NoteRecord
from medrnn.tasks.base import TaskData
from medrnn.transforms.text import ClinicalTokenizer, TextVocabulary, Token

SPLITS: tuple[str, ...] = ("train", "dev", "test")


@dataclass
class NoteSet:
    """Notes as the model reads them: ids, raw texts, tokens with offsets, and (from a dataset) the gold records.

    `records` is None for a user's files (no gold codes); `language` is the tokenizer's, checked against the model's.
    """

    note_ids: list[str]
    texts: list[str]
    tokens: list[list[Token]]
    language: str
    records: list[NoteRecord] | None = None

    def __len__(self) -> int:
        return len(self.note_ids)

    def subset(self, index: np.ndarray) -> NoteSet:
        """The notes at positions `index`, in that order."""
        pick = [int(i) for i in index]
        records = None if self.records is None else [self.records[i] for i in pick]
        return NoteSet([self.note_ids[i] for i in pick], [self.texts[i] for i in pick], [self.tokens[i] for i in pick],
                       self.language, records)  # fmt: skip

    @staticmethod
    def concat(parts: list[NoteSet]) -> NoteSet:
        """The notes of every part, in order (gold records kept only when every part has them)."""
        records = None if any(p.records is None for p in parts) else [r for p in parts for r in p.records or []]
        return NoteSet([i for p in parts for i in p.note_ids], [t for p in parts for t in p.texts],
                       [t for p in parts for t in p.tokens], parts[0].language, records)  # fmt: skip

    def token_texts(self) -> list[list[str]]:
        """Normalised token texts per note (what the vocabulary sees)."""
        return [[t.text for t in doc] for doc in self.tokens]

    @classmethod
    def from_records(cls, records: list[NoteRecord], tokenizer: ClinicalTokenizer) -> NoteSet:
        """Tokenize records (no fitting: the tokenizer is rule-based)."""
        return cls([r.note_id for r in records], [r.text for r in records], [tokenizer.tokenize_record(r) for r in records],
                   tokenizer.language, list(records))  # fmt: skip


PROTOCOL = "CodiEsp official train/dev/test; dev: early stopping and threshold"


def notes_task_data(records: list[NoteRecord], language: str, source: str = "", limit: int | None = None,
                    read_summary: str = "") -> TaskData:  # fmt: skip
    """Records grouped by their official split (train, dev, test; at most `limit` each, in file order) and tokenized.

    Units and ids are the note ids (one document per case); a split without notes is a ConfigError.
    """
    by_split = {s: [r for r in records if r.split == s][:limit] for s in SPLITS}
    for name, part in by_split.items():
        if not part:
            raise ConfigError(f"no {name} documents in {source!r}; CodiEsp's official train/dev/test folders are all needed")
    notes = NoteSet.from_records([r for s in SPLITS for r in by_split[s]], ClinicalTokenizer(language))
    info = {"read": read_summary, "protocol": PROTOCOL, "documents": {s: len(v) for s, v in by_split.items()}}
    return TaskData(notes, np.array(notes.note_ids, dtype=str), list(notes.note_ids), info)


def document_frequency(token_lists: list[list[str]]) -> Counter[str]:
    """In how many documents each token occurs (a token repeated within one document counts once)."""
    return Counter(t for doc in token_lists for t in set(doc))


def fit_vocabulary(token_lists: list[list[str]], min_count: int = 1, min_doc_freq: int = 1) -> TextVocabulary:
    """The training documents' vocabulary: tokens seen `min_count` times *and* in `min_doc_freq` documents or more.

    The vocabulary is saved in the model file. In hospital notes, the words found in few documents are names, record
    numbers, dates and addresses: one patient's words. Keeping only words shared by `min_doc_freq` documents keeps
    them out of the artifact; they read as <unk>, as unseen words do, and count among the training unknowns.
    """
    if min_doc_freq < 1:
        raise ConfigError(f"min_doc_freq={min_doc_freq}; expected an integer >= 1 (training documents a word must occur in)")
    shared = {t for t, n in document_frequency(token_lists).items() if n >= min_doc_freq}
    vocab = TextVocabulary(min_count=min_count).fit([[t for t in doc if t in shared] for doc in token_lists])
    # the totals of the whole training text: the words left out for rarity count as unknown, as min_count's do
    vocab.n_train_tokens_ = int(sum(len(doc) for doc in token_lists))
    vocab.n_train_unknown_ = vocab.n_train_tokens_ - int(sum(vocab.counts_))
    return vocab


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


def gold_counts(records: list[NoteRecord]) -> np.ndarray:
    """Gold codes per document, the codes outside the label set included (for MAP as CodiEsp scores it)."""
    return np.array([len(set(r.codes)) for r in records], dtype=np.int64)


def text_report(parts: dict[str, NoteSet], vocab: TextVocabulary, names: list[str], min_label_count: int,
                dropped: dict[str, int], min_doc_freq: int = 1) -> dict[str, Any]:  # fmt: skip
    """Documents, tokens, unknown tokens, empty documents, vocabulary and label-set sizes per split, and unseen gold codes.

    Words left out of the vocabulary are counted, never listed (they are what the `min_doc_freq` rule keeps private).
    """
    texts = {s: p.token_texts() for s, p in parts.items()}
    rare = sum(1 for n in document_frequency(texts["train"]).values() if n < min_doc_freq)
    return {
        "documents": {s: len(v) for s, v in texts.items()},
        "tokens": {s: int(sum(len(d) for d in v)) for s, v in texts.items()},
        "max_tokens": {s: int(max(len(d) for d in v)) for s, v in texts.items()},
        # train: the tokens cut by min_token_count and min_doc_freq
        "unknown_tokens": {s: int(sum(vocab.encode(d)[1] for d in v)) for s, v in texts.items()},
        "empty_documents": {s: sum(len(d) == 0 for d in v) for s, v in texts.items()},
        "vocabulary_size": len(vocab),
        "min_doc_freq": min_doc_freq,
        "words_below_min_doc_freq": rare,  # distinct training words in fewer documents (a count: the words stay private)
        "labels": {"count": len(names), "min_label_count": min_label_count, "dropped_below_min_count": len(dropped),
                   "dropped_codes": list(dropped)[:50]},
        "unseen_gold": {s: unseen_gold(parts[s].records or [], names) for s in ("dev", "test")},
    }  # fmt: skip


def train_word2vec(token_lists: list[list[str]], vocab: TextVocabulary, dim: int, seed: int = 0,
                   epochs: int = 10) -> tuple[np.ndarray, int]:  # fmt: skip
    """word2vec (CBOW, gensim, one worker: reproducible) on the training documents only, as an embedding matrix for `vocab`.

    Returns (matrix (len(vocab), dim) float32, rows found in word2vec); tokens word2vec has no vector for (the
    specials, and tokens `vocab` kept but word2vec did not) keep small random vectors; row 0 (<pad>) is zero. Only the
    rows of `vocab`'s tokens leave this function: word2vec's own vocabulary (rare words included) stays in memory.
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
