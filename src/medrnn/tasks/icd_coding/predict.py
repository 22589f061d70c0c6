"""Inference for notes coders: token ids -> windows -> per-code probabilities (max over windows) and, for label-attention
models, the token each code attended to most (its evidence). Training scores dev/test through the same functions as
`medrnn predict`, so a run's metrics and new notes see the text exactly the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from medrnn.data.batch import SequenceDataset, collate
from medrnn.errors import InvalidRecordError
from medrnn.transforms.text import SPECIALS, UNK, ChunkReport, Chunks, Token, chunk_documents, merge_chunk_outputs

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
    return span_evidence(text, tokens[index].start, tokens[index].end, context)


def span_evidence(text: str, start: int, end: int, context: int = SNIPPET_CHARS) -> dict[str, Any]:
    """Characters [start, end) of `text` as evidence: offsets and a one-line snippet with the span in brackets."""
    left, right = max(0, start - context), min(len(text), end + context)
    snippet = f"{text[left:start]}[{text[start:end]}]{text[end:right]}"
    return {"token": text[start:end], "start": start, "end": end, "snippet": " ".join(snippet.split())}


def ranked_codes(probs: np.ndarray, threshold: float) -> list[int]:
    """Label indices of one note at or above the threshold, most probable first."""
    above = np.flatnonzero(probs >= threshold)
    return above[np.argsort(-probs[above], kind="stable")].tolist()


def predicted_pairs(probs: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(document, label) pairs at or above the threshold, per document most probable first."""
    return [(d, c) for d in range(probs.shape[0]) for c in ranked_codes(probs[d], threshold)]


def read_note_file(path: str | Path) -> str:
    """A UTF-8 note file, read byte-exact (evidence offsets count every character); unreadable or empty raises."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as err:
        raise InvalidRecordError(f"{path}: cannot read ({err.strerror or err}); expected a UTF-8 text file, one note") from err
    except UnicodeDecodeError as err:
        raise InvalidRecordError(f"{path}: not UTF-8 text ({err})") from err
    if not text.strip():
        raise InvalidRecordError(f"{path}: empty note, nothing to code")
    return text
