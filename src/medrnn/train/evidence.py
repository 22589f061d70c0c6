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

import numpy as np
import torch

from medrnn.config import TrainConfig
from medrnn.data.batch import Batch
from medrnn.records import NoteRecord
from medrnn.train.module import l1_penalty
from medrnn.train.multitask import MultiTaskModule, masked_loss
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


class EvidenceSupervisedModule(MultiTaskModule):
    """MultiTaskModule whose training loss adds `weight` x `evidence_loss` on the model's label attention."""

    def __init__(self, model: torch.nn.Module, config: TrainConfig, targets: EvidenceTargets, weight: float) -> None:
        super().__init__(model, config, "classification")
        self.targets, self.weight = targets, weight

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        out = self.model(batch)
        codes = masked_loss(out.logits, batch.y, self.task_type)
        evidence = evidence_loss(out.attention, self.targets, batch.ids)
        self.log("train_code_loss", codes, batch_size=batch.y.shape[0])
        self.log("train_evidence_loss", evidence, batch_size=batch.y.shape[0])
        loss = codes + self.weight * evidence
        if self.config.l1 > 0:
            loss = loss + self.config.l1 * l1_penalty(self.model)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch.y.shape[0])
        return loss
