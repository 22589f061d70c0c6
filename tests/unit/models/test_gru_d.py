"""GRU-D: the decays, the imputation, the equations by hand, clear errors, one batch and memorising a batch."""

from __future__ import annotations

import pytest
import torch

from medrnn.data.batch import make_batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models import create_model


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # a step-by-step recurrence is fastest on one thread, and a busy second core does not slow it


def _layout(values: torch.Tensor, m: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    return torch.cat([values * m, m, delta], dim=-1)  # (batch, time, 3V)


def _random_batch(n: int, time: int, v: int, seed: int = 0, y: bool = True):
    g = torch.Generator().manual_seed(seed)
    m = (torch.rand(n, time, v, generator=g) < 0.5).float()
    x = _layout(torch.randn(n, time, v, generator=g), m, torch.rand(n, time, v, generator=g) * 4)
    return make_batch(x, y=torch.arange(n) % 2 if y else None)


def test_input_decay_is_one_at_no_gap_and_never_rises_with_the_gap() -> None:
    """The issue's required test, for any parameter values (weights pushed negative and positive included)."""
    model = create_model("gru_d", input_size=12, num_classes=2)
    delta = torch.linspace(0, 50, 501)[:, None].expand(-1, 4)  # (steps, V)
    for raw in (torch.tensor([-2.0, -0.1, 0.5, 3.0]), torch.tensor([0.0, 1.0, -1.0, 0.01])):
        with torch.no_grad():
            model.input_decay_weight.copy_(raw)
            model.input_decay_bias.copy_(raw.flip(0))
        gamma = model.input_decay(delta)  # (steps, V)
        assert torch.equal(gamma[0], torch.ones(4))
        assert (gamma.diff(dim=0) <= 0).all() and (gamma >= 0).all()
        gamma_h = model.hidden_decay_rate(delta)  # the hidden decay obeys the same signs
        assert torch.equal(gamma_h[0], torch.ones(model.hidden_size)) and (gamma_h.diff(dim=0) <= 0).all()


def test_all_observed_input_is_taken_as_is() -> None:
    model = create_model("gru_d", input_size=9, num_classes=2)
    model.set_empirical_mean(torch.tensor([5.0, -5.0, 1.0]))
    values = torch.randn(2, 6, 3)
    x = _layout(values, torch.ones(2, 6, 3), torch.rand(2, 6, 3) * 10)
    assert torch.equal(model.impute(x), values)


def test_missing_values_decay_from_the_last_observation_to_the_empirical_mean() -> None:
    model = create_model("gru_d", input_size=6, num_classes=2)
    mean = torch.tensor([0.7, -1.5])
    model.set_empirical_mean(mean)
    with torch.no_grad():
        model.input_decay_weight.fill_(0.5)
        model.input_decay_bias.zero_()
    time = 8
    m = torch.zeros(1, time, 2)
    m[0, 0, 1] = 1  # variable 0 is never observed; variable 1 once, at t = 0, with value 3
    values = torch.zeros(1, time, 2)
    values[0, 0, 1] = 3.0
    delta = torch.zeros(1, time, 2)
    delta[0, :, 0] = torch.arange(time)
    delta[0, 1:, 1] = torch.tensor([1.0, 2, 4, 8, 16, 32, 200])
    x_hat = model.impute(_layout(values, m, delta))[0]  # (time, 2)
    assert torch.allclose(x_hat[:, 0], mean[0].expand(time))  # never observed: the mean, whatever the gap
    assert x_hat[0, 1] == 3.0
    gap = (x_hat[:, 1] - mean[1]).abs()
    assert (gap.diff() < 0).all() and gap[-1] < 1e-6  # monotone from the last value to the mean
    gamma = torch.exp(-0.5 * delta[0, 1:, 1])
    assert torch.allclose(x_hat[1:, 1], gamma * 3.0 + (1 - gamma) * mean[1])


def test_recurrence_matches_the_paper_equations_by_hand() -> None:
    """Two steps of h_hat = gamma_h h; z, r = sigmoid(W x_hat + U h_hat + V m + b); h = (1-z) h_hat + z tanh(...)."""
    model = create_model("gru_d", input_size=6, num_classes=2, hidden_size=3, head_hidden=0).eval()
    model.set_empirical_mean(torch.tensor([0.3, -0.2]))
    batch = _random_batch(1, 2, 2, seed=3, y=False)
    x = batch.x
    x_hat, m, delta = model.impute(x)[0], x[0, :, 2:4], x[0, :, 4:]
    w_x, w_h, u = model.input_gates.weight, model.hidden_gates.weight, model.hidden_candidate.weight
    b, hid = model.input_gates.bias, 3
    h = torch.zeros(hid)
    for t in range(2):
        gamma_h = torch.exp(-torch.relu(model.hidden_decay.weight.abs() @ delta[t] - model.hidden_decay.bias.abs()))
        h = gamma_h * h
        inp = torch.cat([x_hat[t], m[t]])
        z = torch.sigmoid(w_x[:hid] @ inp + b[:hid] + w_h[:hid] @ h)
        r = torch.sigmoid(w_x[hid : 2 * hid] @ inp + b[hid : 2 * hid] + w_h[hid:] @ h)
        h = (1 - z) * h + z * torch.tanh(w_x[2 * hid :] @ inp + b[2 * hid :] + u @ (r * h))
    assert torch.allclose(model.encode(batch).features[0], h, atol=1e-6)


def test_empirical_mean_is_saved_with_the_weights() -> None:
    model = create_model("gru_d", input_size=6, num_classes=2)
    model.set_empirical_mean(torch.tensor([1.0, 2.0]))
    assert torch.equal(model.state_dict()["x_mean"], torch.tensor([1.0, 2.0]))
    clone = create_model(**model.config)
    clone.load_state_dict(model.state_dict())
    assert torch.equal(clone.x_mean, torch.tensor([1.0, 2.0]))
    with pytest.raises(ShapeError, match=r"shape \(2,\)"):
        model.set_empirical_mean(torch.zeros(3))


def test_bad_config_and_bad_layout_get_clear_errors() -> None:
    with pytest.raises(ConfigError, match="3 \\* V"):
        create_model("gru_d", input_size=7, num_classes=2)
    with pytest.raises(ConfigError, match="bidirectional=False"):
        create_model("gru_d", input_size=6, num_classes=2, bidirectional=True)
    with pytest.raises(ConfigError, match="num_layers=1"):
        create_model("gru_d", input_size=6, num_classes=2, num_layers=2)
    with pytest.raises(ConfigError, match="frontend"):
        create_model("gru_d", input_size=6, num_classes=2, frontend="conv")
    model = create_model("gru_d", input_size=6, num_classes=2)
    with pytest.raises(ShapeError, match=r"\(batch, time, 6\)"):
        model(make_batch(torch.zeros(2, 5, 4)))
    bad = _random_batch(2, 5, 2).x.clone()
    bad[0, 1, 2] = 0.5  # a mask value that is neither 0 nor 1
    with pytest.raises(ShapeError, match="mask 0/1"):
        model(make_batch(bad))
    bad = _random_batch(2, 5, 2).x.clone()
    bad[1, 4, 5] = -1.0  # a negative delta
    with pytest.raises(ShapeError, match="delta hours >= 0"):
        model(make_batch(bad))


def test_quick_one_batch_trains() -> None:
    torch.manual_seed(0)
    model = create_model("gru_d", input_size=9, num_classes=2, hidden_size=16, attention=True, num_static=2)
    batch = _random_batch(8, 12, 3)._replace(static=torch.randn(8, 2))
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
    model = create_model("gru_d", input_size=9, num_classes=2, hidden_size=32, dropout=0.0, head_hidden=0)
    batch = _random_batch(8, 12, 3, seed=1)
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
