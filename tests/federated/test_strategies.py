"""Strategy-level checks through the real ClientApp and Flower strategies, in process (no Ray): seconds, not minutes."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the federated extra is not installed: pip install 'medrnn[federated]'")
from flwr.app import ConfigRecord  # noqa: E402

from medrnn.errors import ConfigError  # noqa: E402
from medrnn.federated import FederatedConfig, check_site_labels, label_balance  # noqa: E402
from medrnn.federated.apps import make_client_app, make_strategy  # noqa: E402
from medrnn.federated.simulate import initial_model  # noqa: E402
from medrnn.federated.weights import to_arrays  # noqa: E402


def _run(fed, path, grid_class, strategy: str, mu: float, labels=None, rounds: int = 1):
    app = make_client_app(str(path), threads=1)  # as in the simulation; two threads on a loaded 2-core machine spin (20x slower)
    rows = []

    def on_train(records, key):
        from flwr.serverapp.strategy.strategy_utils import aggregate_metricrecords

        rows.append([dict(next(iter(r.metric_records.values()))) for r in records])
        return aggregate_metricrecords(records, key)

    config = FederatedConfig(sites="icutype", strategy=strategy, rounds=rounds, proximal_mu=mu)
    train_config = ConfigRecord({"local-epochs": 1, "label-names": labels or list(fed.pipeline.label_names)})
    result = make_strategy(config, len(fed.sites), on_train).start(grid=grid_class(app, len(fed.sites)),
                                                                  initial_arrays=to_arrays(initial_model(fed)), num_rounds=rounds,
                                                                  train_config=train_config)  # fmt: skip
    return result, rows


def test_fedprox_with_mu_zero_equals_fedavg(icu_federation, federation_file, inline_grid):
    fed, _ = icu_federation
    avg, rows = _run(fed, federation_file, inline_grid, "fedavg", 0.0)
    prox, _ = _run(fed, federation_file, inline_grid, "fedprox", 0.0)
    strong, _ = _run(fed, federation_file, inline_grid, "fedprox", 10.0)
    a, p, s = (dict(r.arrays.items()) for r in (avg, prox, strong))
    assert sorted(a) == sorted(p)
    for key in a:
        np.testing.assert_allclose(a[key].numpy(), p[key].numpy(), rtol=1e-6, atol=1e-7)
    moved = sum(float(np.abs(a[k].numpy().astype(float) - s[k].numpy().astype(float)).sum()) for k in a)
    assert moved > 0  # a strong proximal term gives another model
    assert len(rows) == 1 and len(rows[0]) == len(fed.sites)  # every site answered
    assert all(np.isfinite(row["train-loss"]) for r in rows for row in r)


def test_site_with_unknown_label_is_refused_by_name(icu_federation, federation_file, inline_grid):
    fed, _ = icu_federation
    with pytest.raises(ConfigError, match=r"round 1: 3 site\(s\) failed: .*site CSRU: labels In-hospital_death are not known .* Survival"):
        _run(fed, federation_file, inline_grid, "fedavg", 0.0, labels=["Survival"])


def test_unknown_label_values_are_named():
    with pytest.raises(ConfigError, match=r"site north: labels In-hospital_death=2"):
        check_site_labels("north", np.array([[0.0], [1.0], [2.0]]), ["In-hospital_death"], "binary")
    with pytest.raises(ConfigError, match=r"class index 5"):
        check_site_labels("rec-232", np.array([0, 1, 5]), ["N", "S", "V", "F", "Q"], "multiclass")
    with pytest.raises(ConfigError, match=r"site 232: labels Q2 are not known .*it knows N, S, V, F, Q\)"):
        check_site_labels("232", np.array([0, 5]), ["N", "S", "V", "F", "Q", "Q2"], "multiclass", ["N", "S", "V", "F", "Q"])
    check_site_labels("ok", np.array([[0.0], [np.nan], [1.0]]), ["In-hospital_death"], "binary")


def test_sites_report_size_and_label_balance(icu_federation):
    fed, left_out = icu_federation
    assert [s.name for s in fed.sites] == ["CSRU", "MICU", "SICU"] and left_out == {"CCU": 17}
    test = set(fed.split.test.tolist())
    for site in fed.sites:
        assert not test & set(site.train.tolist()) and not test & set(site.val.tolist())  # the test set is common, never a site's
        balance = site.describe()["labels"]["In-hospital_death"]
        assert balance["positive"] + balance["negative"] == len(site.train)
    y = fed.data.samples.y[fed.sites[0].train]
    assert label_balance(y.reshape(-1, 1), fed.pipeline)["In-hospital_death"]["positive"] == int(y.sum())


def test_fedadam_moves_the_global_model_by_server_adam_steps(icu_federation, federation_file, inline_grid):
    fed, _ = icu_federation
    avg, _ = _run(fed, federation_file, inline_grid, "fedavg", 0.0)
    adam, rows = _run(fed, federation_file, inline_grid, "fedadam", 0.0)
    a, d = dict(avg.arrays.items()), dict(adam.arrays.items())
    assert sorted(a) == sorted(d) and all(np.isfinite(v.numpy()).all() for v in d.values())
    assert any(not np.allclose(a[k].numpy(), d[k].numpy()) for k in a)  # the server step is Adam's, not the plain average
