"""Conformance over every registered model: shapes, no NaNs, padding invariance, config round trip.

The recurrent family (every RecurrentClassifier) runs the same VARIANTS on random float input; a model with its
own constructor and input layout declares its variants and a valid-input builder in SPECS, and a registered
model that is neither fails here until it does. Token models (caml, laat, bigru_maxpool) take int64 ids with
pad id 0 and are sized by `vocab_size`; the label-attention ones return attention (batch, classes, time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch

from medrnn.data.batch import Batch, make_batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models import ModelOutput, RecurrentClassifier, create_model, list_models
from medrnn.registry import MODELS

VARIANTS = {
    "plain": {},
    "stacked_bi_attention": {"hidden_size": [16, 8], "bidirectional": True, "attention": True},
    "conv_static": {"frontend": "conv", "num_static": 3, "head_hidden": 0},
}


def _padding_mask(lengths: torch.Tensor, time: int) -> torch.Tensor:
    return torch.arange(time)[None, :] < lengths[:, None]  # (batch, time)


def _batch(lengths: list[int], time: int, input_size: int = 2, num_static: int = 0, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    x = torch.randn(len(lengths), time, input_size, generator=g)
    x = x * (torch.arange(time)[None, :, None] < lengths_t[:, None, None])
    static = torch.randn(len(lengths), num_static, generator=g) if num_static else None
    return make_batch(x, static=static, lengths=lengths_t)


def _gru_d_batch(lengths: list[int], time: int, input_size: int = 6, num_static: int = 0, seed: int = 0) -> Batch:
    """[values (0 where missing) | mask 0/1 | delta hours >= 0] per variable, zero padding."""
    g = torch.Generator().manual_seed(seed)
    lengths_t, n, v = torch.tensor(lengths), len(lengths), input_size // 3
    m = (torch.rand(n, time, v, generator=g) < 0.4).float()
    values = torch.randn(n, time, v, generator=g) * m
    delta = torch.rand(n, time, v, generator=g) * 6
    x = torch.cat([values, m, delta], dim=-1) * _padding_mask(lengths_t, time)[..., None]
    static = torch.randn(n, num_static, generator=g) if num_static else None
    return make_batch(x, static=static, lengths=lengths_t)


def _multi_hot_batch(lengths: list[int], time: int, input_size: int = 7, num_static: int = 0, seed: int = 0) -> Batch:
    """Multi-hot coded visits, zero padding."""
    g = torch.Generator().manual_seed(seed)
    lengths_t, n = torch.tensor(lengths), len(lengths)
    x = (torch.rand(n, time, input_size, generator=g) < 0.3).float() * _padding_mask(lengths_t, time)[..., None]
    static = torch.randn(n, num_static, generator=g) if num_static else None
    return make_batch(x, static=static, lengths=lengths_t)


def _token_batch(lengths: list[int], time: int, input_size: int = 50, num_static: int = 0, seed: int = 0) -> Batch:
    """int64 token ids in [1, input_size) on real steps, pad id 0 after each sequence's length."""
    g = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    x = torch.randint(1, input_size, (len(lengths), time), generator=g) * _padding_mask(lengths_t, time)
    return make_batch(x, lengths=lengths_t)


def _float_junk(n: int, time: int, input_size: int) -> torch.Tensor:
    return torch.randn(n, time, input_size)  # (batch, time, input_size)


def _token_junk(n: int, time: int, input_size: int) -> torch.Tensor:
    return torch.randint(1, input_size, (n, time))  # (batch, time) valid, non-pad ids


class Spec(NamedTuple):
    input_size: int
    variants: dict[str, dict[str, Any]]
    batch: Callable[..., Batch]  # (lengths, time, input_size, num_static) -> a valid Batch with zero padding
    always_attends: bool = False  # attention weights come out whatever the kwargs (e.g. RETAIN's alpha)
    size_arg: str = "input_size"  # the constructor argument that takes input_size (vocab_size for token models)
    junk: Callable[[int, int, int], torch.Tensor] = _float_junk  # (batch, time, input_size) -> non-zero padding content
    label_attention: bool = False  # attention is (batch, num_classes, time): one distribution per label


SPECS = {
    "gru_d": Spec(6, {"plain": {}, "attention_static": {"attention": True, "num_static": 3, "head_hidden": 0}}, _gru_d_batch),
    "retain": Spec(7, {"plain": {}, "static": {"num_static": 3, "embedding_dim": 12}}, _multi_hot_batch, always_attends=True),
    "caml": Spec(50, {"paper_kernel": {}, "odd_kernel": {"kernel_size": 3, "embedding_dim": 12}}, _token_batch,
                 always_attends=True, size_arg="vocab_size", junk=_token_junk, label_attention=True),
    "laat": Spec(50, {"lstm": {"embedding_dim": 12, "attention_size": 12},
                      "gru_stacked": {"cell": "gru", "num_layers": 2, "embedding_dim": 12, "attention_size": 10}}, _token_batch,
                 always_attends=True, size_arg="vocab_size", junk=_token_junk, label_attention=True),
    "bigru_maxpool": Spec(50, {"plain": {"embedding_dim": 12}, "stacked": {"num_layers": 2, "embedding_dim": 12}}, _token_batch,
                          size_arg="vocab_size", junk=_token_junk),
    # slices flattened: 1 channel of 16x16, or 4 channels of 8x8 (image + outline channels), per step
    "slice_rnn": Spec(256, {"plain": {"cnn_channels": [4, 8]},
                            "channels_static": {"in_channels": 4, "cnn_channels": 4, "cnn_blocks": 2, "num_layers": 2,
                                                "num_static": 3, "head_hidden": 0}}, _batch, always_attends=True),
    # series (GRU-D layout: 2 variables) + 3 descriptors; the last variant feeds the every-parameter gradient test
    "fusion": Spec(6, {"early_gru_d": {"num_static": 3, "fusion": "early", "head_hidden": 8},
                       "late_gru": {"num_static": 3, "fusion": "late", "branch": "gru"},
                       "concat_groups": {"fusion": "concat", "branch": "lstm", "channel_groups": [0, 0, 0, 1, 1, 1],
                                         "group_names": ["a", "b"], "attention": True},
                       "gated_gru_d": {"num_static": 3, "fusion": "gated", "modality_dropout": 0.0}}, _gru_d_batch),
    # beats as steps: a 4-sample window (1 lead) + 3 extras, or 2 samples x 2 channels + 3 extras; centre step read
    "beat_rhythm": Spec(7, {"plain": {"beat_window": 4},
                            "channels_static": {"beat_window": 2, "beat_channels": 2, "num_layers": 2, "frontend_layers": 1,
                                                "num_static": 3, "head_hidden": 0}}, _batch),
    "cnn3d": Spec(256, {"linear_head": {"cnn_channels": [4, 8], "hidden_size": 0},
                        "channels_static": {"in_channels": 4, "cnn_channels": 4, "cnn_blocks": 2, "num_static": 3}},
                  _batch),
    # MONAI ResNet-18 baselines (narrow: widen_factor 1/8) on the slices resampled to a cube: 3-D, and 2.5-D (3 planes)
    "resnet3d": Spec(256, {"linear_head": {"widen_factor": 0.125, "hidden_size": 0},
                           "channels_static": {"in_channels": 4, "widen_factor": 0.125, "cube_depth": 6, "num_static": 3}}, _batch),
    "resnet2p5d": Spec(256, {"linear_head": {"widen_factor": 0.125, "hidden_size": 0},
                             "channels_static": {"in_channels": 4, "widen_factor": 0.125, "num_static": 3}}, _batch),
}  # fmt: skip
NEEDS_MONAI = {"resnet3d", "resnet2p5d"}
RECURRENT = [name for name in list_models() if issubclass(MODELS.get(name), RecurrentClassifier)]


def _declared(name: str) -> Spec | None:
    return Spec(2, VARIANTS, _batch) if name in RECURRENT else SPECS.get(name)


def _spec(name: str) -> Spec:
    if name in NEEDS_MONAI:
        pytest.importorskip("monai")
    spec = _declared(name)
    if spec is None:
        pytest.fail(f"model {name!r} is registered but declares no conformance variants: add it to SPECS in {__file__}")
    return spec


CASES = [(name, variant) for name in list_models() for variant in getattr(_declared(name), "variants", ["undeclared"])]


def test_registry_lists_the_three_recurrent_families() -> None:
    assert {"rnn", "lstm", "gru"} <= set(list_models())
    assert {"rnn", "lstm", "gru"} <= set(RECURRENT)


@pytest.mark.parametrize(("name", "variant"), CASES)
def test_model_contract(name: str, variant: str) -> None:
    spec = _spec(name)
    kwargs = dict(spec.variants[variant])  # a copy: popping from the shared table would leak into later models
    hidden_size = kwargs.pop("hidden_size", 16)
    model = create_model(name, **{spec.size_arg: spec.input_size}, num_classes=5, hidden_size=hidden_size, **kwargs).eval()
    num_static = model.num_static
    batch = spec.batch([40, 25, 9], 40, input_size=spec.input_size, num_static=num_static)
    out = model(batch)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (3, 5)
    assert torch.isfinite(out.logits).all()
    assert out.features.shape[0] == 3
    assert torch.allclose(model.head(model.encode(batch).features), out.logits)
    assert (out.attention is not None) == (spec.always_attends or kwargs.get("attention", False))
    if out.attention is not None:
        # one distribution over time per sequence, or per (sequence, label) with label attention (batch, classes, time)
        assert out.attention.shape[:-1] == ((3, 5) if spec.label_attention else (3,))
        assert torch.allclose(out.attention.sum(dim=-1), torch.ones(out.attention.shape[:-1]))
        frontend = getattr(model, "frontend", None)
        steps_lengths = frontend.output_lengths(batch.lengths) if frontend is not None else batch.lengths
        # every padded encoder step (of every sequence, for every label) gets exactly zero attention
        padded_steps = ~_padding_mask(steps_lengths, out.attention.shape[-1])
        if spec.label_attention:
            assert out.attention.shape[-1] == 40
            padded_steps = padded_steps[:, None, :].expand_as(out.attention)
        assert padded_steps[2].any() and out.attention[padded_steps].abs().max() == 0

    # padding invariance: non-zero (even invalid-layout) junk in every padded step, and 13 more junk steps after
    # each sequence, change nothing
    junk = spec.junk(3, 53, spec.input_size)
    real = _padding_mask(batch.lengths, 53).view(3, 53, *[1] * (junk.ndim - 2))
    longer = torch.where(real, torch.cat([batch.x, junk[:, 40:]], dim=1), junk)
    padded = make_batch(longer, static=batch.static, lengths=batch.lengths)
    out_padded = model(padded)
    assert torch.allclose(out_padded.logits, out.logits, atol=1e-5)
    if hasattr(model, "explain"):  # models with an exact decomposition: padding changes none of it
        explained, explained_padded = model.explain(batch), model.explain(padded)
        assert torch.allclose(explained_padded.contributions[:, :40], explained.contributions, atol=1e-6)
        assert explained_padded.contributions[:, 40:].abs().max() == 0

    # config round trip rebuilds an identical model
    clone = create_model(**model.config)
    clone.load_state_dict(model.state_dict())
    assert torch.allclose(clone.eval()(batch).logits, out.logits)


@pytest.mark.parametrize("name", [name for name in list_models() if name not in RECURRENT])
def test_gradients_reach_every_parameter_of_every_own_layout_model(name: str) -> None:
    spec = _spec(name)
    kwargs = dict(list(spec.variants.values())[-1])
    model = create_model(name, **{spec.size_arg: spec.input_size}, num_classes=3, hidden_size=8, **kwargs)
    model(spec.batch([30, 20], 30, input_size=spec.input_size, num_static=model.num_static)).logits.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_gradients_reach_every_parameter() -> None:
    model = create_model(
        "lstm", input_size=2, num_classes=3, hidden_size=8, bidirectional=True, attention=True, frontend="conv", num_static=2
    )
    out = model(_batch([30, 20], 30, num_static=2))
    out.logits.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_bad_config_and_bad_input_get_clear_errors() -> None:
    with pytest.raises(ConfigError, match=f"available: {', '.join(list_models())}$"):
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


@pytest.mark.parametrize("name", RECURRENT)
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
