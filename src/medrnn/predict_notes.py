"""Inference for clinical-notes coders: text -> token windows -> per-code probabilities (max over windows) and, for
label-attention models, the token each code attended to most (its evidence). Training scores dev/test through the same
functions, so a run's metrics and `medrnn predict` see the text exactly the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from medrnn.artifact import load_artifact
from medrnn.data.batch import SequenceDataset, collate
from medrnn.errors import ArtifactError, InvalidRecordError
from medrnn.predict import auto_device
from medrnn.transforms.text import (
    SPECIALS,
    UNK,
    ChunkReport,
    Chunks,
    ClinicalTokenizer,
    TextVocabulary,
    Token,
    chunk_documents,
    merge_chunk_outputs,
)

UNK_ID = SPECIALS.index(UNK)  # an empty document is read as one <unk> token: every model input needs at least one token
SNIPPET_CHARS = 60  # characters of context either side of the evidence token


def chunk_dataset(ids: list[np.ndarray], y: np.ndarray | None, window: int,
                  num_classes: int) -> tuple[SequenceDataset, Chunks, ChunkReport]:  # fmt: skip
    """One item per window of `window` tokens (documents longer than that give several; no token is dropped).

    Each window carries its document's labels `y` (n_documents, num_classes); zeros when `y` is None (inference).
    """
    chunks, report = chunk_documents([len(a) for a in ids], window)
    xs = [torch.from_numpy(ids[d][s:e]) if e > s else torch.tensor([UNK_ID]) for d, s, e in zip(*chunks)]
    labels = np.zeros((len(xs), num_classes), np.float32) if y is None else np.asarray(y, np.float32)[chunks.document]
    return SequenceDataset(xs, labels), chunks, report


class DocumentScores(NamedTuple):
    """Per-document outputs: probabilities (n_documents, num_classes) = max over the document's windows, and
    top_token (n_documents, num_classes): the document-level index of the token with the highest attention for each
    code, read in the window that gave that code's score (-1 where the model has no label attention)."""

    probs: np.ndarray
    top_token: np.ndarray
    chunks: ChunkReport


@torch.no_grad()
def score_documents(model: nn.Module, ids: list[np.ndarray], window: int, num_classes: int, batch_size: int = 16) -> DocumentScores:
    """Score every document by its windows (batched by length, little padding) and merge by max over windows."""
    model.eval()
    dataset, chunks, report = chunk_dataset(ids, None, window, num_classes)
    device = next(model.parameters()).device
    n_chunks = len(dataset)
    probs = np.zeros((n_chunks, num_classes))
    top = np.full((n_chunks, num_classes), -1, dtype=np.int64)
    order = np.argsort([len(x) for x in dataset.x], kind="stable")
    for begin in range(0, n_chunks, batch_size):
        index = order[begin : begin + batch_size]
        out = model(collate([dataset[int(i)] for i in index]).to(device))
        probs[index] = torch.sigmoid(out.logits.double()).cpu().numpy()
        if out.attention is not None and out.attention.ndim == 3:  # (batch, classes, time) label attention
            top[index] = out.attention.argmax(dim=-1).cpu().numpy() + chunks.start[index, None]
    doc_probs = merge_chunk_outputs(probs, chunks.document, len(ids))
    doc_top = np.full((len(ids), num_classes), -1, dtype=np.int64)
    labels = np.arange(num_classes)
    for d in range(len(ids)):
        rows = np.flatnonzero(chunks.document == d)
        doc_top[d] = top[rows[probs[rows].argmax(axis=0)], labels]  # the window whose score the document took
    return DocumentScores(doc_probs, doc_top, report)


def evidence(text: str, tokens: list[Token], index: int, context: int = SNIPPET_CHARS) -> dict[str, Any]:
    """The attended token `index` as character offsets into `text`, with a one-line snippet around it."""
    if index < 0 or index >= len(tokens):
        return {"token": None, "start": None, "end": None, "snippet": ""}
    tok = tokens[index]
    left, right = max(0, tok.start - context), min(len(text), tok.end + context)
    snippet = f"{text[left : tok.start]}[{text[tok.start : tok.end]}]{text[tok.end : right]}"
    return {"token": text[tok.start : tok.end], "start": tok.start, "end": tok.end, "snippet": " ".join(snippet.split())}


@dataclass
class NotesPredictions:
    """Codes per readable note; files that could not be read are listed with the reason (never dropped silently)."""

    files: list[str]
    texts: list[str]
    tokens: list[list[Token]]
    probs: np.ndarray  # (n_files, num_classes)
    top_token: np.ndarray  # (n_files, num_classes)
    label_names: list[str]
    threshold: float
    errors: dict[str, str] = field(default_factory=dict)  # file -> reason

    def codes(self, i: int) -> list[int]:
        """Label indices of note i at or above the threshold, most probable first."""
        above = np.flatnonzero(self.probs[i] >= self.threshold)
        return above[np.argsort(-self.probs[i, above], kind="stable")].tolist()

    def rows(self) -> list[dict[str, Any]]:
        """One row per (note, predicted code): file, code, probability, evidence offsets and snippet."""
        out = []
        for i, name in enumerate(self.files):
            for c in self.codes(i):
                ev = evidence(self.texts[i], self.tokens[i], int(self.top_token[i, c]))
                out.append({"file": name, "code": self.label_names[c], "probability": round(float(self.probs[i, c]), 6),
                            "start": ev["start"], "end": ev["end"], "evidence": ev["snippet"]})  # fmt: skip
        return out


class NotesPredictor:
    """A trained notes coder with its tokenizer, vocabulary, label names, window and dev-tuned threshold."""

    def __init__(self, model: nn.Module, metadata: dict[str, Any]) -> None:
        self.model, self.metadata = model, metadata
        prep = metadata["preprocessing"]
        self.tokenizer = ClinicalTokenizer.from_state_dict(prep["tokenizer"])
        self.vocab = TextVocabulary.from_state_dict(prep["vocabulary"])
        self.window, self.threshold = int(prep["window"]), float(prep["threshold"])
        self.label_names: list[str] = list(metadata["class_names"])

    @classmethod
    def from_artifact(cls, path: str | Path, device: str | torch.device | None = None) -> NotesPredictor:
        model, meta = load_artifact(path, device=device or auto_device())
        if meta.get("task") != "notes":
            raise ArtifactError(f"{path}: artifact task is {meta.get('task', 'none (an ECG beat model)')!r}, not a clinical-notes coder")
        return cls(model, meta)

    def predict_texts(self, texts: list[str]) -> tuple[DocumentScores, list[list[Token]]]:
        """Scores of raw note texts (in the tokenizer's language) and their tokens."""
        tokens = [self.tokenizer.tokenize_with_offsets(t) for t in texts]
        ids = [self.vocab.encode([t.text for t in toks])[0] for toks in tokens]
        return score_documents(self.model, ids, self.window, len(self.label_names)), tokens

    def predict_files(self, paths: list[str | Path]) -> NotesPredictions:
        """Read each UTF-8 text file byte-exact (offsets count every character); predict the readable, non-empty ones."""
        return predictions_for_files(self, paths)


def read_note_files(paths: list[str | Path]) -> tuple[list[str], list[str], dict[str, str]]:
    """(names, texts) of the readable, non-empty UTF-8 files, read byte-exact, and {file: reason} for the others."""
    names, texts, errors = [], [], {}
    for path in paths:
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except OSError as err:
            errors[str(path)] = f"{path}: cannot read ({err.strerror or err})"
            continue
        except UnicodeDecodeError as err:
            errors[str(path)] = str(InvalidRecordError(f"{path}: not UTF-8 text ({err})"))
            continue
        if not text.strip():
            errors[str(path)] = f"{path}: empty note, nothing to code"
            continue
        names.append(str(path))
        texts.append(text)
    return names, texts, errors


def predictions_for_files(predictor: Any, paths: list[str | Path]) -> NotesPredictions:
    """Codes of every readable note file by `predictor` (anything with predict_texts, label_names and threshold)."""
    names, texts, errors = read_note_files(paths)
    scores, tokens = predictor.predict_texts(texts) if texts else (None, [])
    n = len(predictor.label_names)
    probs = scores.probs if scores is not None else np.zeros((0, n))
    top = scores.top_token if scores is not None else np.zeros((0, n), dtype=np.int64)
    return NotesPredictions(names, texts, tokens, probs, top, predictor.label_names, predictor.threshold, errors)
