"""RETAIN: exact per-code contributions, alpha over real visits only, time order matters, one batch and overfit."""

from __future__ import annotations

import pytest
import torch

from medrnn.data.batch import make_batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models import create_model
from medrnn.models.base import reverse_padded


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # small GRUs are fastest on one thread, and a busy second core does not slow them


def _visits(lengths: list[int], visits: int, codes: int, seed: int = 0, counts: bool = False):
    g = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    x = (torch.rand(len(lengths), visits, codes, generator=g) < 0.3).float()
    if counts:
        x = x * torch.randint(1, 4, x.shape, generator=g)
    x = x * (torch.arange(visits)[None, :, None] < lengths_t[:, None, None])
    return make_batch(x, y=torch.arange(len(lengths)) % 2, lengths=lengths_t)


@pytest.mark.parametrize("num_static", [0, 3])
def test_contributions_sum_to_logits_minus_bias(num_static: int) -> None:
    model = create_model("retain", input_size=10, num_classes=3, embedding_dim=8, hidden_size=6, num_static=num_static).eval()
    batch = _visits([7, 4, 1], 7, 10, counts=True)
    if num_static:
        batch = batch._replace(static=torch.randn(3, num_static))
    out = model.explain(batch)
    assert model(batch).contributions is None  # forward never pays for them
    assert torch.allclose(model(batch).logits, out.logits)
    assert out.contributions.shape == (3, 7, 10, 3)
    expected = out.logits - model.classifier.bias
    if num_static:  # static features are a separate linear term: W_s s, outside the per-code decomposition
        expected = expected - batch.static @ model.classifier.weight[:, 8:].T
    assert torch.allclose(out.contributions.sum(dim=(1, 2)), expected, atol=1e-5)
    assert out.contributions[batch.x == 0].abs().max() == 0  # absent codes contribute nothing
    # one entry by the paper's formula: alpha_i W_k (beta_i * W_emb[:, j]) x_ij
    _, beta, _ = model._attend(batch)
    b, i, j, k = 0, 2, int(batch.x[0, 2].nonzero()[0]), 1
    w = model.classifier.weight[k, :8]
    omega = out.attention[b, i] * w @ (beta[b, i] * model.embedding.weight[:, j]) * batch.x[b, i, j]
    assert torch.allclose(out.contributions[b, i, j, k], omega, atol=1e-6)


def test_contributions_only_in_eval_mode() -> None:
    model = create_model("retain", input_size=5, num_classes=2)
    with pytest.raises(ConfigError, match="eval mode"):
        model.train().explain(_visits([3, 2], 3, 5))


def test_alpha_is_a_distribution_over_real_visits_only() -> None:
    model = create_model("retain", input_size=6, num_classes=2).eval()
    batch = _visits([5, 3, 1], 5, 6)
    alpha = model(batch).attention  # (batch, visits)
    assert torch.allclose(alpha.sum(dim=1), torch.ones(3))
    assert alpha[~batch.mask].abs().max() == 0 and (alpha[batch.mask] > 0).all()


def test_time_order_matters_but_padding_does_not() -> None:
    model = create_model("retain", input_size=6, num_classes=2).eval()
    batch = _visits([6, 4], 6, 6, seed=1)
    out = model(batch)
    reversed_visits = make_batch(reverse_padded(batch.x, batch.lengths), lengths=batch.lengths)
    assert not torch.allclose(model(reversed_visits).logits, out.logits, atol=1e-4)
    junk = torch.cat([batch.x, torch.rand(2, 4, 6) * 3], dim=1)  # non-zero junk after each sequence's end
    padded = model(make_batch(junk, lengths=batch.lengths))
    assert torch.allclose(padded.logits, out.logits, atol=1e-6)
    assert torch.allclose(padded.attention[:, :6], out.attention) and padded.attention[:, 6:].abs().max() == 0


def test_the_reverse_rnns_start_at_the_latest_real_visit() -> None:
    """beta of the latest real visit depends on that visit alone: the reverse GRUs have seen nothing else yet."""
    model = create_model("retain", input_size=6, num_classes=2).eval()
    batch = _visits([5, 3], 5, 6, seed=2)
    changed = batch.x.clone()
    changed[0, :4], changed[1, :2] = 1 - changed[0, :4], 1 - changed[1, :2]  # change every earlier real visit
    _, beta, _ = model._attend(batch)
    _, beta_changed, _ = model._attend(make_batch(changed, lengths=batch.lengths))
    assert torch.allclose(beta[0, 4], beta_changed[0, 4]) and torch.allclose(beta[1, 2], beta_changed[1, 2])
    assert not torch.allclose(beta[0, 0], beta_changed[0, 0])


def test_bad_config_and_bad_input_get_clear_errors() -> None:
    with pytest.raises(ConfigError, match="embedding_dim must be a positive int"):
        create_model("retain", input_size=5, num_classes=2, embedding_dim=0)
    model = create_model("retain", input_size=5, num_classes=2, num_static=2)
    with pytest.raises(ShapeError, match=r"\(batch, visits, 5\)"):
        model(make_batch(torch.zeros(2, 3, 4)))
    with pytest.raises(ShapeError, match="static"):
        model(make_batch(torch.zeros(2, 3, 5)))


def test_quick_one_batch_trains() -> None:
    torch.manual_seed(0)
    model = create_model("retain", input_size=20, num_classes=2, embedding_dim=16, hidden_size=16, num_static=2)
    batch = _visits([9, 7, 5, 3, 9, 2, 8, 1], 9, 20)._replace(static=torch.randn(8, 2))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(10):
        loss = torch.nn.functional.cross_entropy(model(batch).logits, batch.y)
        optimiser.zero_grad()
        loss.backward()
        if step == 0:  # every parameter takes part: a dead branch (static input, decay, attention) gets no gradient
            dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
            assert not dead, f"parameters without gradient: {dead}"
            assert all(torch.isfinite(p.grad).all() for p in model.parameters())
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses  # a clear fall, not noise


def test_overfit_memorises_a_batch_of_eight() -> None:
    torch.manual_seed(0)
    model = create_model("retain", input_size=20, num_classes=2, embedding_dim=32, hidden_size=32, dropout=0.0)
    batch = _visits([9, 7, 5, 3, 9, 2, 8, 4], 9, 20, seed=1)
    batch = batch._replace(y=torch.tensor([0, 1, 1, 0, 1, 0, 0, 1]))  # arbitrary labels: only memorising fits them
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(200):
        logits = model(batch).logits
        loss = torch.nn.functional.cross_entropy(logits, batch.y)
        if loss.item() < 0.05:
            break
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert (logits.argmax(dim=1) == batch.y).all() and loss.item() < 0.05, f"loss {loss.item():.3f} after 200 steps"
