"""Multi-label text models for ICD coding (issue #6): caml and laat (label attention) and bigru_maxpool (baseline).

The label-attention contract: attention (batch, num_classes, time), each row a distribution over the real tokens
(sums to 1) and exactly 0 on padding; trained on planted evidence, each label's attention peaks on its evidence.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch.nn import functional as F

from medrnn.data.batch import Batch, make_batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models import create_model

SMALL = {
    "caml": {"embedding_dim": 16, "hidden_size": 16, "kernel_size": 3},
    "laat": {"embedding_dim": 16, "hidden_size": 16, "attention_size": 16},
    "bigru_maxpool": {"embedding_dim": 16, "hidden_size": 16},
}
LABEL_ATTENTION = ["caml", "laat"]
VOCAB = 40


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """The timings these tests promise (< 5 s each) are for one CPU thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(name: str, num_classes: int, **kwargs: object) -> torch.nn.Module:
    return create_model(name, vocab_size=VOCAB, num_classes=num_classes, **{**SMALL[name], **kwargs})


def _docs(lengths: list[int], time: int, seed: int = 0) -> Batch:
    """Random documents of ids in [1, VOCAB), pad id 0 after each length."""
    g = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    x = torch.randint(1, VOCAB, (len(lengths), time), generator=g) * (torch.arange(time)[None, :] < lengths_t[:, None])
    return make_batch(x, lengths=lengths_t)


def _planted(n: int, num_classes: int = 4, time: int = 24, seed: int = 0) -> tuple[Batch, torch.Tensor]:
    """Label k is present iff token k + 10 appears (once, at a random real position); other tokens are noise >= 10 + K.

    Returns the batch (y float multi-hot (n, K)) and the evidence positions (n, K), -1 where the label is absent.
    """
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(12, time + 1, (n,), generator=g)
    x = torch.randint(10 + num_classes, VOCAB, (n, time), generator=g)
    y = (torch.rand(n, num_classes, generator=g) < 0.5).float()
    where = torch.full((n, num_classes), -1)
    for b in range(n):
        slots = torch.randperm(int(lengths[b]), generator=g)[:num_classes]
        for k in range(num_classes):
            if y[b, k]:
                x[b, slots[k]], where[b, k] = 10 + k, slots[k]
    x = x * (torch.arange(time)[None, :] < lengths[:, None])
    return make_batch(x, y=y, lengths=lengths), where


def _train(model: torch.nn.Module, batch: Batch, steps: int, lr: float = 0.01) -> list[float]:
    """Full-batch Adam on the multi-label BCE loss; the loss of every step."""
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(model(batch).logits, batch.y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", LABEL_ATTENTION)
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
def test_attention_rows_sum_to_one_over_real_tokens_and_are_zero_on_padding(name: str, training: bool) -> None:
    torch.manual_seed(0)
    model = _model(name, num_classes=30).train(training)
    lengths = [17, 9, 1, 24]
    out = model(_docs(lengths, 24))
    assert out.logits.shape == (4, 30)
    assert out.attention.shape == (4, 30, 24)  # (batch, num_classes, time)
    for b, n in enumerate(lengths):
        assert torch.allclose(out.attention[b, :, :n].sum(dim=-1), torch.ones(30), atol=1e-6)
        assert (out.attention[b, :, n:] == 0).all()
        assert (out.attention[b, :, :n] > 0).all()  # softmax over real tokens: no real token is masked out
    assert torch.equal(out.attention[2, :, 0], torch.ones(30))  # a one-token document: all weight on it


@pytest.mark.parametrize(
    ("name", "kwargs", "docs", "window"),
    [
        # h_t reads tokens t-1..t+1, so any of those three positions holds the evidence: the peak must be one of them
        ("caml", {"kernel_size": 3}, 128, 1),
        ("laat", {}, 64, 0),  # the BiLSTM state at the evidence token itself
    ],
    ids=["caml", "laat"],
)
def test_trained_attention_peaks_on_planted_evidence(name: str, kwargs: dict, docs: int, window: int) -> None:
    """Label k present iff token k+10 appears; after 100 steps label k attends to that token in unseen documents.

    (CAML with kernel_size=1 can strand a label on a noise token whose score dwarfs the evidence's at the start,
    a softmax plateau no step count fixes, so the test uses the paper-like convolution with context.)
    """
    torch.manual_seed(0)
    model = _model(name, num_classes=4, dropout=0.0, **kwargs)
    train, _ = _planted(docs, seed=0)
    _train(model, train, steps=100)
    test, where = _planted(64, seed=1)
    with torch.no_grad():
        out = model.eval()(test)
    assert ((out.logits > 0).float() == test.y).float().mean() > 0.9
    peak = out.attention.argmax(dim=-1)  # (batch, num_classes)
    present = where >= 0
    on_evidence = ((peak - where).abs() <= window)[present].float().mean()
    assert on_evidence >= 0.9, f"{name}: attention peaks on the evidence for {on_evidence:.0%} of present labels"


@pytest.mark.parametrize("name", list(SMALL))
def test_quick_one_batch_loss_falls(name: str) -> None:
    torch.manual_seed(0)
    model = _model(name, num_classes=6)
    batch = _docs([30, 22, 15, 8], 30)
    batch = batch._replace(y=(torch.rand(4, 6) < 0.3).float())
    losses = _train(model, batch, steps=10)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", list(SMALL))
def test_overfit_memorises_eight_documents(name: str) -> None:
    torch.manual_seed(0)
    model = _model(name, num_classes=5, dropout=0.0)
    batch = _docs([30, 28, 25, 21, 18, 14, 9, 5], 30, seed=1)
    batch = batch._replace(y=(torch.rand(8, 5, generator=torch.Generator().manual_seed(2)) < 0.4).float())
    losses = _train(model, batch, steps=60, lr=0.03)
    with torch.no_grad():
        predicted = (model.eval()(batch).logits > 0).float()
    assert torch.equal(predicted, batch.y) and losses[-1] < 0.05


@pytest.mark.parametrize("name", list(SMALL))
def test_load_embeddings_with_freeze_keeps_the_weights_fixed(name: str) -> None:
    torch.manual_seed(0)
    model = _model(name, num_classes=3)
    vectors = torch.randn(VOCAB, 16)
    model.load_embeddings(vectors, freeze=True)
    expected = vectors.clone()
    expected[0] = 0  # the padding row stays zero whatever the word vectors hold there
    assert torch.equal(model.embedding.weight, expected)
    others = {n: p.detach().clone() for n, p in model.named_parameters() if not n.startswith("embedding.")}
    batch = _docs([20, 12], 20)._replace(y=torch.tensor([[1.0, 0, 1], [0, 1, 0]]))
    _train(model, batch, steps=1)
    assert torch.equal(model.embedding.weight, expected)
    assert any(not torch.equal(p, others[n]) for n, p in model.named_parameters() if n in others)  # the rest trains
    # the freeze is part of the config: a rebuilt model stays frozen
    assert model.config["freeze_embeddings"] is True
    assert not create_model(**model.config).embedding.weight.requires_grad

    model.load_embeddings(vectors, freeze=False)
    _train(model, batch, steps=1)
    assert not torch.equal(model.embedding.weight, expected) and model.config["freeze_embeddings"] is False


@pytest.mark.parametrize("name", list(SMALL))
def test_bad_input_and_config_get_clear_errors(name: str) -> None:
    model = _model(name, num_classes=3)
    with pytest.raises(ShapeError, match=r"\(vocab_size, embedding_dim\)"):
        model.load_embeddings(torch.randn(VOCAB + 1, 16))
    with pytest.raises(ShapeError, match="int64 ids"):
        model(make_batch(torch.zeros(2, 5, 1)))
    with pytest.raises(ShapeError, match=f"token ids must lie in \\[0, {VOCAB}\\)"):
        model(make_batch(torch.full((2, 5), VOCAB)))
    with pytest.raises(ShapeError, match="lengths"):
        model(make_batch(torch.ones(2, 5, dtype=torch.long), lengths=torch.tensor([5, 0])))
    with pytest.raises(ConfigError, match="hidden_size must be a positive int"):
        _model(name, num_classes=3, hidden_size=0)


@pytest.mark.parametrize("name", list(SMALL))
def test_output_bias_starts_at_the_label_priors(name: str) -> None:
    model = _model(name, num_classes=3)
    prior = torch.tensor([0.01, 0.2, 0.5])
    model.init_output_bias(prior)
    torch.testing.assert_close(torch.sigmoid(model.classifier.bias.double()), prior.double(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ShapeError, match=r"prior must be \(3,\)"):
        model.init_output_bias(torch.tensor([0.1, 0.2]))
    with pytest.raises(ShapeError, match=r"in \(0, 1\)"):
        model.init_output_bias(torch.tensor([0.0, 0.2, 1.0]))


def test_laat_cell_is_validated_and_gru_works() -> None:
    with pytest.raises(ConfigError, match="valid: 'lstm', 'gru'"):
        _model("laat", num_classes=2, cell="rnn")
    out = _model("laat", num_classes=2, cell="gru")(_docs([7, 3], 7))
    assert out.attention.shape == (2, 2, 7)


def test_caml_matches_its_equations() -> None:
    """alpha_l = softmax(H u_l), v_l = sum_t alpha_lt h_t, logit_l = beta_l . v_l + b_l, with H = tanh(conv(E)) by hand."""
    torch.manual_seed(0)
    model = _model("caml", num_classes=3, kernel_size=4).eval()
    x = torch.tensor([[5, 7, 9, 11, 2, 0, 0]])
    out = model(make_batch(x, lengths=torch.tensor([5])))
    e = F.pad(model.embedding(x[0, :5]), (0, 0, 1, 2))  # (time + k - 1, embedding_dim): 'same' for k = 4 pads 1 before, 2 after
    w, b = model.conv.weight, model.conv.bias  # (hidden, embedding_dim, k)
    h = torch.tanh(torch.stack([torch.einsum("dk,kd->", w[c], e[t : t + 4]) for t in range(5) for c in range(16)]).view(5, 16) + b)
    alpha = torch.softmax(h @ model.attention.query.weight.T, dim=0).T  # (labels, time)
    logits = ((alpha @ h) * model.classifier.weight).sum(dim=-1) + model.classifier.bias
    assert torch.allclose(out.attention[0, :, :5], alpha, atol=1e-6)
    assert torch.allclose(out.logits[0], logits, atol=1e-5)


def test_laat_matches_its_equations() -> None:
    """Z = tanh(W H^T), A = softmax(U Z), V = A H, logit_l = w_l . v_l + b_l, on the BiLSTM states H."""
    torch.manual_seed(0)
    model = _model("laat", num_classes=3).eval()
    batch = _docs([6, 4], 6)
    out = model(batch)
    h = model.rnn(model.embedding(batch.x[1:, :4]), torch.tensor([4]))[0]  # (time, 2u) of the unpadded second document
    z = torch.tanh(model.attention.proj.weight @ h.T)  # (d_a, time)
    a = torch.softmax(model.attention.query.weight @ z, dim=-1)  # (labels, time)
    logits = ((a @ h) * model.classifier.weight).sum(dim=-1) + model.classifier.bias
    assert torch.allclose(out.attention[1, :, :4], a, atol=1e-6)
    assert torch.allclose(out.logits[1], logits, atol=1e-5)
