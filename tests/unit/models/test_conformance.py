"""Conformance over every registered model: shapes, no NaNs, padding invariance, config round trip."""

from __future__ import annotations

import pytest
import torch

from medrnn.data.batch import make_batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models import ModelOutput, create_model, list_models

VARIANTS = {
    "plain": {},
    "stacked_bi_attention": {"hidden_size": [16, 8], "bidirectional": True, "attention": True},
    "conv_static": {"frontend": "conv", "num_static": 3, "head_hidden": 0},
}


def _batch(lengths: list[int], time: int, input_size: int = 2, num_static: int = 0, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    x = torch.randn(len(lengths), time, input_size, generator=g)
    x = x * (torch.arange(time)[None, :, None] < lengths_t[:, None, None])
    static = torch.randn(len(lengths), num_static, generator=g) if num_static else None
    return make_batch(x, static=static, lengths=lengths_t)


def test_registry_lists_the_three_recurrent_families() -> None:
    assert {"rnn", "lstm", "gru"} <= set(list_models())


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", list_models())
def test_model_contract(name: str, variant: str) -> None:
    kwargs = VARIANTS[variant]
    model = create_model(name, input_size=2, num_classes=5, hidden_size=kwargs.pop("hidden_size", 16), **kwargs).eval()
    num_static = model.num_static
    batch = _batch([40, 25, 9], 40, num_static=num_static)
    out = model(batch)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (3, 5)
    assert torch.isfinite(out.logits).all()
    assert out.features.shape[0] == 3
    assert torch.allclose(model.head(model.encode(batch).features), out.logits)
    if model.attention is not None:
        assert torch.allclose(out.attention.sum(dim=1), torch.ones(3))
        steps = out.attention.shape[1]
        # the padded steps of the shortest sequence get no attention
        assert out.attention[2, steps // 2 + 1 :].abs().max() == 0

    # padding invariance: extra (non-zero) padding after each sequence changes nothing
    longer = torch.cat([batch.x, torch.randn(3, 13, 2)], dim=1)
    padded = make_batch(longer, static=batch.static, lengths=batch.lengths)
    assert torch.allclose(model(padded).logits, out.logits, atol=1e-5)

    # config round trip rebuilds an identical model
    clone = create_model(**model.config)
    clone.load_state_dict(model.state_dict())
    assert torch.allclose(clone.eval()(batch).logits, out.logits)


def test_gradients_reach_every_parameter() -> None:
    model = create_model(
        "lstm", input_size=2, num_classes=3, hidden_size=8, bidirectional=True, attention=True, frontend="conv", num_static=2
    )
    out = model(_batch([30, 20], 30, num_static=2))
    out.logits.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_bad_config_and_bad_input_get_clear_errors() -> None:
    with pytest.raises(ConfigError, match="available: gru, lstm, rnn"):
        create_model("transformer", input_size=1, num_classes=2)
    with pytest.raises(ConfigError, match="frontend"):
        create_model("rnn", input_size=1, num_classes=2, frontend="wavelet")
    model = create_model("gru", input_size=2, num_classes=2, num_static=3)
    with pytest.raises(ShapeError, match=r"\(batch, time, 2\)"):
        model(make_batch(torch.zeros(2, 5, 4)))
    with pytest.raises(ShapeError, match="static"):
        model(make_batch(torch.zeros(2, 5, 2)))


def test_elman_rnn_matches_its_equation() -> None:
    """h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h), computed by hand for one step."""
    model = create_model("rnn", input_size=2, num_classes=2, hidden_size=3).eval()
    cell = model.forward_layers[0]
    x = torch.randn(1, 1, 2)
    h = torch.tanh(x[0, 0] @ cell.weight_ih_l0.T + cell.bias_ih_l0 + cell.bias_hh_l0)
    assert torch.allclose(model.encode(make_batch(x)).features[0], h, atol=1e-6)


@pytest.mark.parametrize("name", list_models())
def test_token_input_contract(name: str) -> None:
    """SMILES-style input: int64 ids, 0 = padding; attention over real tokens only; padding-invariant; round trip."""
    model = create_model(name, input_size=1, num_classes=4, vocab_size=30, embedding_dim=8, hidden_size=8,
                         bidirectional=True, attention=True).eval()  # fmt: skip
    lengths = torch.tensor([12, 7, 3])
    x = torch.randint(1, 30, (3, 12)) * (torch.arange(12)[None, :] < lengths[:, None])
    out = model(make_batch(x, lengths=lengths))
    assert out.logits.shape == (3, 4) and out.attention.shape == (3, 12)
    assert torch.allclose(out.attention.sum(dim=1), torch.ones(3)) and out.attention[2, 3:].abs().max() == 0
    longer = torch.cat([x, torch.randint(1, 30, (3, 5))], dim=1)  # junk (non-pad) ids after each sequence's end
    assert torch.allclose(model(make_batch(longer, lengths=lengths)).logits, out.logits, atol=1e-5)
    clone = create_model(**model.config)
    clone.load_state_dict(model.state_dict())
    assert torch.allclose(clone.eval()(make_batch(x, lengths=lengths)).logits, out.logits)
    with pytest.raises(ShapeError, match="int64 ids"):
        model(make_batch(torch.zeros(3, 12, 1)))
    with pytest.raises(ConfigError, match="no conv front-end"):
        create_model(name, input_size=1, num_classes=2, vocab_size=30, frontend="conv")
