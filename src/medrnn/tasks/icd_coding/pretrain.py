"""`medrnn pretrain icd_coding`: word2vec on the whole CodiEsp training corpus, written as the embedding of a notes
model, so that `medrnn train icd_coding --init-from OUT` starts its token embedding from it (rows aligned by token).

A training run's own word2vec (`data.embeddings="word2vec"`) reads only the notes it trains on: with `--train-fraction F`
the labelled share. This corpus is every training note, labelled or not (optionally with its English translation);
only the train/ folder is read, so no dev or test note can reach the vectors or the vocabulary.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medrnn import paths
from medrnn.io.codiesp import read_codiesp
from medrnn.tasks.icd_coding.config import NotesRunConfig
from medrnn.tasks.icd_coding.data import NoteSet, fit_vocabulary, train_word2vec
from medrnn.transforms.text import ClinicalTokenizer

log = logging.getLogger(__name__)
CORPUS_SPLIT = "train"  # the one CodiEsp folder pretraining reads
PRETRAINED = ["embedding.weight"]  # what `--init-from` moves out of the artifact (the head and the encoder start fresh)
CLASS_NAMES = ["word2vec"]  # the artifact codes nothing: a one-output head only gives the model its shape


@dataclass
class Corpus:
    """The pretraining text: token lists per (note, language), the note ids, and what was read (for the stats)."""

    note_ids: list[str]  # distinct training notes, in file order
    texts: list[list[str]]  # token texts, one list per note version (word2vec's sentences)
    by_note: list[list[str]]  # token texts per note, its versions joined (the vocabulary counts a note once)
    info: dict[str, Any] = field(default_factory=dict)


def pretraining_corpus(config: NotesRunConfig) -> Corpus:
    """Every note of CodiEsp's train/ folder in the `pretrain.languages` versions (default: `data.language`), labelled
    or not; the first `data.documents_per_split` only when it is set (quick runs), as `Task.load` keeps them."""
    d = config.data
    languages = list(config.pretrain.languages or [d.language])
    root = paths.resolve_dataset(d.data)
    texts: list[list[str]] = []
    by_note: dict[str, list[str]] = {}
    read: dict[str, Any] = {}
    for language in languages:
        # with_spans=False: the evidence spans are labels, and the X file is not needed to read the text
        records, report = read_codiesp(root, splits=(CORPUS_SPLIT,), language=language, code_types=tuple(d.code_types), with_spans=False)
        records = records[: d.documents_per_split]
        for note_id, tokens in zip((r.note_id for r in records), NoteSet.from_records(records, ClinicalTokenizer(language)).token_texts()):
            texts.append(tokens)
            by_note.setdefault(note_id, []).extend(tokens)
        read[language] = {"documents": len(records), "without_codes": sum(not r.codes for r in records),
                          "excluded_documents": len(report.excluded_documents)}  # fmt: skip
    info = {"split": CORPUS_SPLIT, "languages": languages, "documents": len(by_note), "texts": len(texts),
            "tokens": int(sum(len(t) for t in texts)), "read": read}  # fmt: skip
    return Corpus(list(by_note), texts, list(by_note.values()), info)


def write_pretrained(config: NotesRunConfig, out: Path) -> dict[str, Any]:
    """word2vec on `pretraining_corpus` as the embedding of a `model.name` model, saved to `out/model` with its vocabulary
    (the pipeline state); the artifact names the embedding as the one parameter `--init-from` moves. Returns the stats."""
    from medrnn.artifact import save_artifact
    from medrnn.models import build_model
    from medrnn.tasks.icd_coding.pipeline import NotesPipeline

    d, m = config.data, config.model
    start = time.perf_counter()
    corpus = pretraining_corpus(config)
    # the vocabulary travels in the artifact: the same privacy rule as a training run (min_doc_freq notes, counted once each)
    vocab = fit_vocabulary(corpus.by_note, d.min_token_count, d.min_doc_freq)
    matrix, found = train_word2vec(corpus.texts, vocab, d.embedding_dim, seed=config.train.seed, epochs=config.pretrain.epochs)
    model = build_model(m.name, m, exclude=("output_bias",), vocab_size=len(vocab), num_classes=len(CLASS_NAMES),
                        embedding_dim=d.embedding_dim)  # fmt: skip
    model.load_embeddings(torch.from_numpy(matrix))
    pipeline = NotesPipeline(ClinicalTokenizer(d.language), vocab, list(CLASS_NAMES), np.zeros(len(CLASS_NAMES), dtype=np.int64),
                             d.window, list(d.code_types), min_doc_freq=d.min_doc_freq)  # fmt: skip
    stats = {"method": "word2vec (CBOW, gensim)", "corpus": corpus.info, "vocabulary_size": len(vocab), "rows_from_word2vec": found,
             "embedding_dim": d.embedding_dim, "epochs": config.pretrain.epochs, "min_doc_freq": d.min_doc_freq,
             "seconds": round(time.perf_counter() - start, 2)}  # fmt: skip
    save_artifact(out / "model", model, pipeline.state_dict(), list(CLASS_NAMES), corpus.note_ids,
                  extra={"task": "icd_coding", "config": config.model_dump(mode="json"),
                         "transfer": {"parameters": list(PRETRAINED), "pretrain": stats}})  # fmt: skip
    log.info("word2vec on %d training notes (%s): %d of %d vocabulary rows", len(corpus.note_ids), "+".join(corpus.info["languages"]),
             found, len(vocab))  # fmt: skip
    return {"artifact": str(out / "model"), "model": m.name, "parameters": list(PRETRAINED), **stats}
