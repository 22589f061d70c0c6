"""Supervised label attention on gold evidence spans: the right tokens per (window, label), the loss's value, and that
training with it moves attention onto the spans."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from medrnn.data.batch import make_batch
from medrnn.errors import ConfigError
from medrnn.models import create_model
from medrnn.records import NoteRecord
from medrnn.tasks.base import get_task
from medrnn.tasks.icd_coding.config import AUTO_EVIDENCE_WEIGHT, NotesRunConfig
from medrnn.tasks.icd_coding.data import notes_task_data
from medrnn.tasks.icd_coding.evidence import EvidenceLoss, EvidenceTargets, evidence_loss, evidence_supervision
from medrnn.train.losses import l1_penalty, masked_loss
from medrnn.train.task_module import TaskModule
from medrnn.transforms.text import Chunks, Token


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


TEXT = "fiebre alta y tos seca con dolor"  # tokens: fiebre(0-6) alta(7-11) y(12-13) tos(14-17) seca(18-22) con dolor
TOKENS = [Token(w, TEXT.index(w), TEXT.index(w) + len(w)) for w in TEXT.split()]
RECORD = NoteRecord("n", TEXT, "es", ("R50.9", "R05", "Z99"), ("D",) * 3,
                    (("R50.9", 0, 11), ("R05", 14, 17), ("R05", 18, 22), ("Z99", 27, 32)), "train")  # fmt: skip
LABELS = ["R05", "R50.9"]  # Z99 is not a label: its span teaches nothing


def test_targets_are_the_span_tokens_per_label_and_window() -> None:
    whole = EvidenceTargets([RECORD], [TOKENS], Chunks(np.array([0]), np.array([0]), np.array([7])), LABELS)
    rows, labels, toks, pairs = whole.gather(torch.tensor([0]))
    got = {(int(label), int(t)) for label, t in zip(labels, toks)}
    assert got == {(1, 0), (1, 1), (0, 3), (0, 4)} and whole.n_pairs == 2 and rows.eq(0).all()
    assert whole.spans_not_labels == 1 and whole.spans_without_tokens == 0  # Z99's span is counted, not lost
    assert len(set(zip(labels.tolist(), pairs.tolist()))) == 2  # one pair id per label
    # two windows of 3 tokens: [0, 3) holds R50.9's span, [3, 6) holds R05's, at window-relative positions 0 and 1
    split = EvidenceTargets([RECORD], [TOKENS], Chunks(np.array([0, 0, 0]), np.array([0, 3, 6]), np.array([3, 6, 7])), LABELS)
    assert [(label.tolist(), tok.tolist()) for label, tok, _ in split.items] == [([1, 1], [0, 1]), ([0, 0], [0, 1]), ([], [])]
    rows, _, _, pairs = split.gather(torch.tensor([1, 2, 0]))
    assert rows.tolist() == [0, 0, 2, 2] and pairs.tolist() == [0, 0, 1, 1]  # pairs numbered across the batch


def test_loss_is_minus_log_attention_mass_on_the_span() -> None:
    targets = EvidenceTargets([RECORD], [TOKENS], Chunks(np.array([0]), np.array([0]), np.array([7])), LABELS)
    uniform = torch.full((1, 2, 7), 1 / 7)
    expected = -(math.log(2 / 7) + math.log(2 / 7)) / 2  # both labels: 2 of 7 tokens
    assert evidence_loss(uniform, targets, torch.tensor([0])).item() == pytest.approx(expected)
    peaked = torch.zeros(1, 2, 7)
    peaked[0, 0, 3], peaked[0, 1, 0] = 1.0, 1.0  # R05 on "tos", R50.9 on "fiebre"
    assert evidence_loss(peaked, targets, torch.tensor([0])).item() == pytest.approx(0.0, abs=1e-6)
    nothing = EvidenceTargets([RECORD], [TOKENS], Chunks(np.array([0]), np.array([6]), np.array([7])), LABELS)
    assert evidence_loss(uniform, nothing, torch.tensor([0])).item() == 0.0


def test_training_on_the_loss_moves_label_attention_onto_the_span() -> None:
    torch.manual_seed(0)
    model = create_model("laat", vocab_size=20, num_classes=2, embedding_dim=8, hidden_size=8, attention_size=8)
    targets = EvidenceTargets([RECORD], [TOKENS], Chunks(np.array([0]), np.array([0]), np.array([7])), LABELS)
    batch = make_batch(torch.tensor([[3, 4, 5, 6, 7, 8, 9]]), y=torch.ones(1, 2))
    batch = batch._replace(ids=torch.tensor([0]))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    before = evidence_loss(model(batch).attention, targets, batch.ids).item()
    for _ in range(60):
        optimiser.zero_grad()
        evidence_loss(model(batch).attention, targets, batch.ids).backward()
        optimiser.step()
    attention = model(batch).attention[0].detach()
    assert evidence_loss(model(batch).attention, targets, batch.ids).item() < 0.1 < before
    assert attention[0, 3:5].sum() > 0.9 and attention[1, 0:2].sum() > 0.9


def _supervision(model: torch.nn.Module, train: NotesRunConfig, records: list[NoteRecord], label_names: list[str]):
    data = notes_task_data(records, "es")
    notes = data.samples.subset(np.flatnonzero(np.array([r.split for r in records]) == "train"))
    chunks = Chunks(np.array([0]), np.array([0]), np.array([len(notes.tokens[0])]))
    return evidence_supervision(model, train, notes.records, notes.tokens, chunks, label_names)


def test_evidence_weight_needs_label_attention_and_spans() -> None:
    config = NotesRunConfig.model_validate({"data": {"embeddings": "none"}, "train": {"evidence_weight": 0.1}})
    records = [RECORD, *(NoteRecord(s, "tos", "es", ("R05",), ("D",), (), s) for s in ("dev", "test"))]
    labels = ["R05", "R50.9", "Z99"]
    laat = create_model("laat", vocab_size=20, num_classes=3, embedding_dim=8, hidden_size=8)
    loss, info = _supervision(laat, config.train, records, labels)
    assert isinstance(loss, EvidenceLoss) and loss.weight == 0.1 and loss.name == "evidence"
    assert info == {"weight": 0.1, "pairs": 3, "spans_not_labels": 0, "spans_without_tokens": 0}  # all three are labels here
    plain = create_model("bigru_maxpool", vocab_size=20, num_classes=3, embedding_dim=8, hidden_size=8)
    with pytest.raises(ConfigError, match="needs a label-attention model"):
        _supervision(plain, config.train, records, labels)
    no_spans = [r.__class__(**{**r.__dict__, "spans": ()}) for r in records]
    with pytest.raises(ConfigError, match="carry no evidence spans"):
        _supervision(laat, config.train, no_spans, labels)
    auto = config.train.model_copy(update={"evidence_weight": "auto"})  # the default: on where it can be, else off and why
    assert _supervision(laat, auto, records, labels)[1]["weight"] == AUTO_EVIDENCE_WEIGHT
    off, why = _supervision(plain, auto, records, labels)
    assert off is None and "label-attention" in why["why_off"]
    off, why = _supervision(laat, auto, no_spans, labels)
    assert off is None and "no evidence spans" in why["why_off"]
    zero = config.train.model_copy(update={"evidence_weight": 0})
    assert _supervision(laat, zero, records, labels) == (None, {"weight": 0.0, "why_off": "evidence_weight=0"})
    with pytest.raises(ValueError, match="must be 'auto' or a number >= 0"):
        NotesRunConfig.model_validate({"train": {"evidence_weight": -1}})


@pytest.mark.parametrize("l1", [0.0, 1e-4])
def test_the_generic_module_adds_the_evidence_term_as_the_old_module_did(l1: float) -> None:
    """TaskModule's training loss = BCE + weight * evidence (+ L1), summed in the order EvidenceSupervisedModule summed it."""
    torch.manual_seed(0)
    model = create_model("laat", vocab_size=20, num_classes=2, embedding_dim=8, hidden_size=8, attention_size=8)
    targets = EvidenceTargets([RECORD], [TOKENS], Chunks(np.array([0]), np.array([0]), np.array([7])), LABELS)
    config = NotesRunConfig.model_validate({"train": {"l1": l1}}).train
    module = TaskModule(model, config, "multilabel", 2, extra_loss=EvidenceLoss(targets, 0.1))
    batch = make_batch(torch.tensor([[3, 4, 5, 6, 7, 8, 9]]), y=torch.tensor([[1.0, 0.0]]))._replace(ids=torch.tensor([0]))
    model.eval()  # no dropout: both forward passes see the same network
    got = module.training_step(batch, 0)
    out = model(batch)
    expected = masked_loss(out.logits, batch.y, "classification") + 0.1 * evidence_loss(out.attention, targets, batch.ids)
    if l1 > 0:
        expected = expected + l1 * l1_penalty(model)
    assert got.item() == expected.item() and evidence_loss(out.attention, targets, batch.ids).item() > 0


def test_a_run_records_why_evidence_supervision_is_off() -> None:
    """extra_loss on the task: off for a model without label attention ("auto"), with the reason in the run's data info."""
    task = get_task("icd_coding")
    config = NotesRunConfig.model_validate({"data": {"embeddings": "none"}, "model": {"name": "bigru_maxpool", "hidden_size": 8},
                                            "train": {"evidence_weight": "auto"}})  # fmt: skip
    records = [RECORD, *(NoteRecord(s, "tos", "es", ("R05",), ("D",), (), s) for s in ("dev", "test"))]
    data = notes_task_data(records, "es")
    split = task.split(data, config)
    pipeline = task.fit_pipeline(data, split, config)
    model, _ = task.build_model(data, split, pipeline, config)
    assert task.extra_loss(data, split, pipeline, config, model) is None
    assert "label-attention" in data.info["evidence_supervision"]["why_off"]
