"""Differential privacy: Opacus DP-SGD on each site (per-sample gradients of the DP copies, ε accounting, refusals), FedProx
under DP, and Flower's client-level central DP wrapper; through the real ClientApp in process (no Ray)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

pytest.importorskip("opacus", reason="the federated extra is not installed: pip install 'medrnn[federated]'")

from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping  # noqa: E402

from medrnn.data.batch import make_batch  # noqa: E402
from medrnn.errors import ConfigError  # noqa: E402
from medrnn.federated import FederatedConfig  # noqa: E402
from medrnn.federated.apps import central_epsilon, make_client_app, make_strategy, train_config  # noqa: E402
from medrnn.federated.client import local_train  # noqa: E402
from medrnn.federated.dp import DPSettings, plan_dp  # noqa: E402
from medrnn.federated.dp_models import dp_compatible, plain_state  # noqa: E402
from medrnn.federated.simulate import initial_model, privacy_summary  # noqa: E402
from medrnn.federated.weights import to_arrays  # noqa: E402
from medrnn.models import MODELS  # noqa: E402


def test_epsilon_grows_with_rounds_and_shrinks_with_noise():
    plan = plan_dp("MICU", 3461, 64, local_epochs=1, rounds=20, target_epsilon=3.0, max_grad_norm=1.0)
    assert plan.delta == pytest.approx(1 / 3461) and plan.steps_per_round == 54 and plan.sample_rate == pytest.approx(64 / 3461)
    spent = [plan.epsilon(r) for r in range(0, 21, 5)]
    assert spent[0] == 0.0 and all(a < b for a, b in zip(spent, spent[1:]))
    assert spent[-1] == pytest.approx(3.0, abs=0.03)  # the planned σ spends the target over all rounds
    louder = dataclasses.replace(plan, noise_multiplier=2 * plan.noise_multiplier)
    assert louder.epsilon(20) < plan.epsilon(20) / 2
    assert plan_dp("MICU", 3461, 64, 1, 20, 1.0, 1.0).noise_multiplier > plan.noise_multiplier  # smaller ε, more noise


def test_site_too_small_for_the_dp_batch_is_refused():
    with pytest.raises(ConfigError, match=r"site CCU: 20 training samples, not more than DP-SGD's batch size 32 .*--min-site-train 33"):
        plan_dp("CCU", 20, 32, 1, 5, 8.0, 1.0)
    with pytest.raises(ConfigError, match="must both be > 0"):
        plan_dp("CCU", 200, 32, 1, 5, 8.0, 0.0)


def _batch(lengths: list[int], n_vars: int = 3, steps: int = 5) -> object:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(len(lengths), steps, 3 * n_vars, generator=g)
    x[..., n_vars : 2 * n_vars] = (x[..., n_vars : 2 * n_vars] > 0).float()  # GRU-D's mask and delta channels
    x[..., 2 * n_vars :] = x[..., 2 * n_vars :].abs()
    return make_batch(x, lengths=torch.tensor(lengths))


@pytest.mark.parametrize("name", ["gru_d", "gru", "lstm", "rnn"])
def test_dp_copy_computes_the_models_function_and_exact_per_sample_gradients(name):
    from opacus.grad_sample import GradSampleModule

    torch.manual_seed(0)
    model = MODELS.get(name)(input_size=9, num_classes=1, hidden_size=8, head_hidden=4, dropout=0.0).eval()
    dp = dp_compatible(model).eval()
    batch = _batch([5, 3, 2])
    torch.testing.assert_close(dp(batch).logits, model(batch).logits, atol=1e-6, rtol=1e-5)
    state = plain_state(dp, model)
    assert list(state) == list(model.state_dict())  # the server averages the plain model's arrays
    dp.train()
    hooked = GradSampleModule(dp)
    hooked(batch).logits.mean().backward()  # Opacus' default loss reduction: the mean over the batch
    per_sample = {n: p.grad_sample.clone() for n, p in dp.named_parameters()}
    hooked.disable_hooks()
    for i in range(3):  # Opacus' per-sample gradient of sample i = the gradient of a batch holding sample i alone
        dp.zero_grad()
        one = type(batch)(*(t[i : i + 1] if isinstance(t, torch.Tensor) else t for t in batch))
        dp(one).logits.sum().backward()
        for n, p in dp.named_parameters():
            torch.testing.assert_close(per_sample[n][i], p.grad, atol=1e-6, rtol=1e-4)
    hooked.cleanup()


class Composite(torch.nn.Module):
    """A layer with its own parameter and a submodule: Opacus' functorch path would need the whole forward per sample."""

    name = "composite"

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(3))
        self.linear = torch.nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x * self.scale)


def test_models_opacus_cannot_train_are_refused_by_name():
    conv = MODELS.get("lstm")(input_size=9, num_classes=1, hidden_size=8, frontend="conv")
    with pytest.raises(ConfigError, match=r"model 'lstm' cannot be trained with DP-SGD: layer 'frontend.* is BatchNorm.*frontend=none"):
        dp_compatible(conv)

    refused = r"model 'composite' cannot be trained with DP-SGD: layer '\(the model itself\)' .*leaf layers\. Use one of gru_d"
    with pytest.raises(ConfigError, match=refused):
        dp_compatible(Composite())


@pytest.mark.timeout(120)
def test_dp_site_round_reports_epsilon_and_fedprox_still_pulls_to_the_global_model(icu_federation):
    fed, _ = icu_federation
    small = fed.config.model_copy(update={"train": fed.config.train.model_copy(update={"batch_size": 8})})
    fed = dataclasses.replace(fed, config=small)
    start = to_arrays(initial_model(fed))
    dp = DPSettings(epsilon=8.0, max_grad_norm=1.0, rounds=2)
    moved = {}
    for mu in (0.0, 100.0):
        model, metrics = local_train(fed, 1, start, 2, 1, mu, None, dp)
        plan = plan_dp("MICU", len(fed.sites[1].train), 8, 1, 2, 8.0, 1.0)
        assert metrics["dp-epsilon"] == pytest.approx(plan.epsilon(2), rel=1e-6)  # the accountant counted both rounds' steps
        assert metrics["dp-epsilon"] == pytest.approx(8.0, abs=0.05) and metrics["dp-delta"] == pytest.approx(1 / len(fed.sites[1].train))
        after = to_arrays(model)
        moved[mu] = sum(float(((after[k].numpy() - start[k].numpy()) ** 2).sum()) for k in start.keys())
        assert np.isfinite(metrics["train-loss"])
    assert 0 < moved[100.0] < moved[0.0] / 3  # the proximal term is added after Opacus' noise, and still pulls


@pytest.mark.timeout(180)
def test_dp_and_central_dp_through_the_client_app(icu_federation, inline_grid, tmp_path):
    from medrnn.federated.client import save_federation

    fed, _ = icu_federation
    small = dataclasses.replace(fed, config=fed.config.model_copy(update={"train": fed.config.train.model_copy(update={"batch_size": 8})}))
    config = FederatedConfig(sites="icutype", rounds=2, dp_epsilon=8.0, central_dp_noise=0.5, central_dp_clip=0.5)
    rows = []

    def on_train(records, key):
        from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

        rows.append([dict(next(iter(r.metric_records.values()))) for r in records])
        return aggregate_metricrecords(records, key)

    def run(federation, path):
        app = make_client_app(str(path), threads=1, central_dp=True)
        strategy = make_strategy(config, len(federation.sites), on_train)
        assert isinstance(strategy, DifferentialPrivacyClientSideFixedClipping)
        return strategy.start(grid=inline_grid(app, len(federation.sites)), initial_arrays=to_arrays(initial_model(federation)),
                              num_rounds=2, train_config=train_config(config, list(federation.pipeline.label_names)))  # fmt: skip

    result = run(small, save_federation(small, tmp_path / "small"))
    assert all(np.isfinite(a.numpy()).all() for a in result.arrays.values())
    assert [len(r) for r in rows] == [3, 3]
    for first, second in zip(*(sorted(r, key=lambda row: row["site"]) for r in rows)):
        assert 0 < first["dp-epsilon"] < second["dp-epsilon"] == pytest.approx(8.0, abs=0.05)  # ε per round, target at the end
    assert central_epsilon(config, 1) < central_epsilon(config, 2)
    assert central_epsilon(config.model_copy(update={"central_dp_noise": 2.0}), 2) < central_epsilon(config, 2)
    summary = privacy_summary(config, [], [], say=lambda line: None)
    assert summary["central_dp"]["epsilon"] == pytest.approx(central_epsilon(config, 2))
    # the quick config's batch of 32 is more than CSRU's 22 training stays: that site is refused by name, before training
    batch = fed.config.train.batch_size
    with pytest.raises(ConfigError, match=rf"site CSRU: 22 training samples, not more than DP-SGD's batch size {batch}"):
        run(fed, save_federation(fed, tmp_path / "quick"))
