"""Fusion: an absent modality is ignored exactly as documented, a sample with none is refused, modality dropout only
trains, and the fusion arms build from a task's config (models/fusion.py)."""

from __future__ import annotations

import pytest
import torch

from medrnn.data.batch import Batch, make_batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models import create_model
from medrnn.models.fusion import METHODS, FusionClassifier

V, S = 3, 4  # series variables (GRU-D layout: 3V channels), descriptors


def _batch(n: int = 4, present: list[list[float]] | None = None, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    m = (torch.rand(n, 10, V, generator=g) < 0.5).float()
    x = torch.cat([torch.randn(n, 10, V, generator=g) * m, m, torch.rand(n, 10, V, generator=g) * 3], dim=-1)
    static = torch.randn(n, S, generator=g)
    return make_batch(x, static=static, present=None if present is None else torch.tensor(present))


def _model(fusion: str, branch: str = "gru_d", **kwargs: object) -> FusionClassifier:
    torch.manual_seed(0)
    return create_model("fusion", input_size=3 * V, num_classes=2, num_static=S, fusion=fusion, branch=branch,
                        hidden_size=8, head_hidden=8, **kwargs).eval()  # fmt: skip


@pytest.mark.parametrize("fusion", METHODS)
def test_absent_descriptors_are_ignored(fusion: str) -> None:
    model = _model(fusion)
    batch = _batch(present=[[1, 0]] * 4)
    other = batch._replace(static=torch.randn(4, S) * 10)
    out = model(batch).logits
    assert torch.isfinite(out).all()
    assert torch.allclose(model(other).logits, out, atol=1e-6)  # whatever the descriptors hold, they are not read
    assert not torch.allclose(model(batch._replace(present=None)).logits, out)  # present, they matter


@pytest.mark.parametrize("fusion", ["concat", "late", "gated"])
def test_absent_series_is_ignored(fusion: str) -> None:
    model = _model(fusion)
    batch = _batch(present=[[0, 1]] * 4)
    out = model(batch).logits
    assert torch.isfinite(out).all()
    assert torch.allclose(model(batch._replace(x=_batch(seed=1).x)).logits, out, atol=1e-6)


def test_late_fusion_with_one_modality_is_that_modality_s_head() -> None:
    model = _model("late")
    batch = _batch(present=[[1, 0]] * 4)
    series = model.branches[0].encode(batch._replace(static=None, present=None)).features
    assert torch.allclose(model(batch).logits, model.classifier[0](series), atol=1e-6)


def test_gate_runs_over_present_modalities_only() -> None:
    model = _model("gated")
    model(_batch(present=[[1, 1], [1, 0], [0, 1], [1, 1]]))
    gates = model.last_gates
    assert torch.allclose(gates.sum(dim=1), torch.ones(4))
    assert gates[1].tolist() == [1.0, 0.0] and gates[2].tolist() == [0.0, 1.0]


def test_early_fusion_with_gru_d_reads_absent_descriptors_as_unobserved() -> None:
    model = _model("early")
    batch = _batch(present=[[1, 0]] * 4)
    x = model._early_input(batch, batch.present)
    v = V + S
    assert x.shape[2] == 3 * v
    assert (x[..., V:v] == 0).all() and (x[..., v + V : 2 * v] == 0).all()  # values 0, mask 0: GRU-D imputes the mean


@pytest.mark.parametrize("fusion", ["concat", "late", "gated"])  # early has one input: absent modalities are zeros in it
def test_a_sample_without_any_modality_is_refused(fusion: str) -> None:
    with pytest.raises(ShapeError, match="none of its modalities"):
        _model(fusion)(_batch(present=[[1, 1], [0, 0], [1, 1], [1, 1]]))


def test_modality_dropout_trains_only_and_never_drops_everything() -> None:
    model = _model("gated", modality_dropout=0.9)
    present = torch.ones(2000, 2)
    assert torch.equal(model._drop(present), present)  # eval: nothing dropped
    dropped = model.train()._drop(present)
    assert (dropped.sum(dim=1) >= 1).all() and dropped.mean() < 0.6  # ~0.5: mostly one of the two kept


def test_one_modality_arm_reads_only_it_and_channel_groups_derive_presence() -> None:
    static_only = _model("static")
    batch = _batch()
    assert torch.allclose(static_only(batch._replace(x=_batch(seed=2).x)).logits, static_only(batch).logits)
    assert torch.isfinite(_model("series")(_batch(present=[[0, 1]] * 4)).logits).all()  # read as it comes
    model = create_model("fusion", input_size=4, num_classes=1, fusion="late", branch="gru", channel_groups=[0, 0, 1, 1],
                         group_names=["codes", "labs"], hidden_size=4)  # fmt: skip
    x = torch.zeros(2, 3, 4)
    x[0, :, :2] = 1  # codes only
    x[1] = 1
    assert model.presence(make_batch(x)).tolist() == [[1.0, 0.0], [1.0, 1.0]]


def test_bad_fusion_configs_are_refused_naming_the_choice() -> None:
    with pytest.raises(ConfigError, match="valid: early, concat, late, gated"):
        _model("sum")
    with pytest.raises(ConfigError, match="channel_groups"):
        create_model("fusion", input_size=4, num_classes=1, channel_groups=[0, 2, 2, 2])
    with pytest.raises(ConfigError, match="one channel group"):
        create_model("fusion", input_size=6, num_classes=1, channel_groups=[0, 0, 0, 1, 1, 1], group_names=["a", "b"])
