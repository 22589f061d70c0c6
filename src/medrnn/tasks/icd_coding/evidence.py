"""Supervised label attention: the gold evidence spans of the training notes (CodiEsp-X) tell each label's attention
where to look, beside the BCE on the codes.

With about three training notes per code, label attention has to find each code's evidence from a handful of
examples; the spans give it directly. For every (training window, gold code with spans in that window) pair the
extra loss is -log(attention mass on the span's tokens), averaged over pairs and weighted by
`train.evidence_weight`: supervised attention in the sense of Liu et al. 2016 (COLING, alignment-supervised NMT),
applied per label. No maintained library offers it for label attention, so it is written here. Only training
spans are used; dev and test spans stay for evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError
from medrnn.models.text import LabelAttention
from medrnn.records import NoteRecord
from medrnn.tasks.base import ExtraLoss
from medrnn.tasks.icd_coding.config import AUTO_EVIDENCE_WEIGHT, NotesTrainConfig
from medrnn.transforms.text import Chunks, Token


class EvidenceTargets:
    """Per training window: (label, window-relative token) pairs covered by a gold evidence span of that label.

    Built once from the records, their tokens (character offsets) and the windows; `gather(ids)` returns, for a
    batch of window ids, flat (row, label, token, pair) index tensors, `pair` numbering the (row, label) pairs.
    """

    def __init__(self, records: list[NoteRecord], tokens: list[list[Token]], chunks: Chunks, label_names: list[str]) -> None:
        index = {c: i for i, c in enumerate(label_names)}
        per_document: list[dict[int, set[int]]] = []
        # spans that cannot teach, counted rather than dropped silently: their code is no label (never seen in a
        # training note's code list), or they cover no token (e.g. whitespace only)
        self.spans_not_labels, self.spans_without_tokens = 0, 0
        for record, toks in zip(records, tokens):
            starts = np.array([t.start for t in toks], dtype=np.int64)
            ends = np.array([t.end for t in toks], dtype=np.int64)
            covered: dict[int, set[int]] = {}
            for code, begin, end in record.spans:
                if code not in index:
                    self.spans_not_labels += 1
                    continue
                hit = np.flatnonzero((starts < end) & (begin < ends))
                self.spans_without_tokens += hit.size == 0
                covered.setdefault(index[code], set()).update(hit.tolist())
            per_document.append(covered)
        self.items: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (label, token, pair-in-item)
        for d, s, e in zip(chunks.document, chunks.start, chunks.end):
            labels, toks_in, pairs = [], [], []
            inside = [(k, sorted(t for t in v if s <= t < e)) for k, v in sorted(per_document[d].items())]
            for p, (label, toks) in enumerate((k, t) for k, t in inside if t):  # pairs numbered 0.. without gaps
                labels += [label] * len(toks)
                toks_in += [t - int(s) for t in toks]
                pairs += [p] * len(toks)
            self.items.append(tuple(torch.tensor(v, dtype=torch.long) for v in (labels, toks_in, pairs)))  # type: ignore[arg-type]
        self.n_pairs = sum(int(p.unique().numel()) for _, _, p in self.items)

    def gather(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(row in batch, label, token, pair) of every supervised token of the batch's windows `ids` (dataset indices)."""
        rows, labels, toks, pairs, offset = [], [], [], [], 0
        for row, i in enumerate(ids.tolist()):
            label, tok, pair = self.items[i]
            if label.numel():
                rows.append(torch.full_like(label, row))
                labels.append(label)
                toks.append(tok)
                pairs.append(pair + offset)
                offset += int(pair.max()) + 1
        if not rows:
            empty = torch.empty(0, dtype=torch.long)
            return empty, empty, empty, empty
        return torch.cat(rows), torch.cat(labels), torch.cat(toks), torch.cat(pairs)


def evidence_loss(attention: torch.Tensor, targets: EvidenceTargets, ids: torch.Tensor) -> torch.Tensor:
    """Mean over (window, label) pairs of -log(attention mass on the label's gold span tokens); 0 without pairs."""
    rows, labels, toks, pairs = (t.to(attention.device) for t in targets.gather(ids))
    if not rows.numel():
        return attention.sum() * 0.0
    mass = torch.zeros(int(pairs.max()) + 1, device=attention.device, dtype=attention.dtype)
    mass = mass.index_add(0, pairs, attention[rows, labels, toks])
    return -torch.log(mass.clamp_min(1e-8)).mean()


class EvidenceLoss(ExtraLoss):
    """The evidence term of the training loss: `weight` x `evidence_loss` on the model's label attention."""

    name = "evidence"

    def __init__(self, targets: EvidenceTargets, weight: float) -> None:
        self.targets, self.weight = targets, float(weight)

    def __call__(self, output: Any, batch: Batch) -> torch.Tensor:
        return evidence_loss(output.attention, self.targets, batch.ids)


def evidence_supervision(model: nn.Module, config: NotesTrainConfig, records: list[NoteRecord], tokens: list[list[Token]],
                         chunks: Chunks, label_names: list[str]) -> tuple[EvidenceLoss | None, dict[str, Any]]:  # fmt: skip
    """The evidence loss on the training spans when `evidence_weight` asks for it and can have it, with what it covers.

    "auto" falls back to no extra loss (reason recorded); an explicit weight > 0 that cannot apply is a ConfigError
    saying what is missing.
    """
    weight = config.evidence_weight
    name = getattr(model, "name", type(model).__name__)
    missing = None
    if not isinstance(getattr(model, "attention", None), LabelAttention):
        missing = f"needs a label-attention model (laat, caml), not {name!r}"
    elif not any(r.spans for r in records):
        missing = "the training notes carry no evidence spans (CodiEsp-X spans exist for data.language='es' only)"
    if weight == 0 or (weight == "auto" and missing):
        return None, {"weight": 0.0, "why_off": "evidence_weight=0" if weight == 0 else missing}
    if missing:
        raise ConfigError(f"train.evidence_weight={weight}: {missing}; set it to 0 or 'auto'")
    weight = AUTO_EVIDENCE_WEIGHT if weight == "auto" else float(weight)
    targets = EvidenceTargets(records, tokens, chunks, label_names)
    info = {"weight": weight, "pairs": targets.n_pairs, "spans_not_labels": targets.spans_not_labels,
            "spans_without_tokens": targets.spans_without_tokens}  # fmt: skip
    return EvidenceLoss(targets, weight), info
