"""SecAgg+ (Flower's secaggplus_mod + SecAggPlusWorkflow) gives FedAvg's global model up to its quantisation; in process."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the federated extra is not installed: pip install 'medrnn[federated]'")
from medrnn.errors import ConfigError  # noqa: E402
from medrnn.federated import FederatedConfig  # noqa: E402
from medrnn.federated.apps import History, make_client_app, make_strategy, train_config  # noqa: E402
from medrnn.federated.secagg import (  # noqa: E402
    check_range,
    compare_arrays,
    make_secagg_client_app,
    make_secagg_server_app,
    quantisation_tolerance,
)
from medrnn.federated.simulate import initial_model  # noqa: E402
from medrnn.federated.weights import to_arrays  # noqa: E402


def _fedavg(fed, path, grid_class, config):
    app = make_client_app(str(path), threads=1)
    strategy = make_strategy(config, len(fed.sites), lambda records, key: __import__("flwr").app.MetricRecord({}))
    result = strategy.start(grid=grid_class(app, len(fed.sites)), initial_arrays=to_arrays(initial_model(fed)),
                            num_rounds=config.rounds, train_config=train_config(config, list(fed.pipeline.label_names)))  # fmt: skip
    return result.arrays


def _secagg(fed, path, grid_class, config):
    from flwr.app import Context, RecordDict

    history = History()
    server = make_secagg_server_app(fed, config.model_copy(update={"secagg": True}), to_arrays(initial_model(fed)),
                                    lambda arrays: {"test-loss": 0.0, "test-auroc": 0.5}, history, say=lambda line: None)  # fmt: skip
    grid = grid_class(make_secagg_client_app(str(path), threads=1), len(fed.sites))
    server(grid, Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}))
    return history


@pytest.mark.timeout(120)
def test_secagg_global_model_equals_fedavg_up_to_quantisation(icu_federation, federation_file, inline_grid):
    fed, _ = icu_federation
    config = FederatedConfig(sites="icutype", rounds=1)
    plain = _fedavg(fed, federation_file, inline_grid, config)
    history = _secagg(fed, federation_file, inline_grid, config)
    secure = history.final_arrays
    assert sorted(secure.keys()) == sorted(plain.keys())
    difference = compare_arrays(plain, secure)
    tolerance = quantisation_tolerance(len(fed.sites))  # 3 sites x 3 x 8 / 2^22 = 1.7e-5 per weight
    assert 0 < difference <= tolerance  # not bitwise equal (stochastic rounding), within the quantisation grid
    start = to_arrays(initial_model(fed))
    assert compare_arrays(start, secure) > 20 * tolerance  # and the round moved the model by far more (Adam: ~lr per step)
    assert [row["round"] for row in history.rounds] == [0, 1]
    assert [s["site"] for s in history.rounds[1]["sites"]] == ["CSRU", "MICU", "SICU"]  # per-site metrics travel beside the masks


def test_weights_beyond_the_clipping_range_are_refused():
    with pytest.raises(ConfigError, match=r"site SICU: a weight of magnitude 9.5 exceeds SecAgg\+'s clipping range 8"):
        check_range([np.zeros(3), np.array([1.0, -9.5])], "SICU")


def test_secagg_refuses_fedadam():
    with pytest.raises(ConfigError, match="--secagg combines with --strategy fedavg or fedprox"):
        make_secagg_server_app(None, FederatedConfig(strategy="fedadam", secagg=True), None, None, History())  # type: ignore[arg-type]
