"""The whole federated run on Flower's simulation engine (Ray), once: 3 ICU sites, 2 rounds -> an ordinary run folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("flwr", reason="the federated extra is not installed: pip install 'medrnn[federated]'")

from medrnn import paths  # noqa: E402
from medrnn.federated import FederatedConfig  # noqa: E402
from medrnn.federated.simulate import federate  # noqa: E402
from medrnn.predict import Predictor  # noqa: E402
from medrnn.runfiles import COMPLETE  # noqa: E402


@pytest.fixture(scope="module")
def federated_run(icu_federation, tmp_path_factory):
    fed, _ = icu_federation
    lines: list[str] = []
    out = tmp_path_factory.mktemp("fed") / "run"
    result = federate(fed.task, fed.config, FederatedConfig(sites="icutype", rounds=2, min_site_train=20), out, data=fed.data,
                      say=lines.append)  # fmt: skip
    return result, out, "\n".join(lines)


@pytest.mark.timeout(240)
def test_global_model_changes_and_metrics_are_finite(federated_run):
    result, _, said = federated_run
    rounds = result.rounds
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert all(r["global_change"] > 0 for r in rounds[1:])  # the global model moved in every round
    assert all(np.isfinite(r["test-loss"]) and np.isfinite(r["test-auroc"]) for r in rounds)
    for r in rounds[1:]:
        assert [s["site"] for s in r["sites"]] == ["CSRU", "MICU", "SICU"]
        assert all(np.isfinite(s["train-loss"]) and s["num-examples"] > 0 for s in r["sites"])
    assert "round 2/2" in said and "CSRU" in said and "positive_rate" in said  # sizes and label balance printed


def test_run_folder_is_complete_and_predicts(federated_run):
    _, out, _ = federated_run
    assert (out / COMPLETE).is_file() and (out / "config.yaml").is_file() and (out / "federated.yaml").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    fed = metrics["federated"]
    assert [s["name"] for s in fed["sites"]] == ["CSRU", "MICU", "SICU"] and fed["left_out"] == {"CCU": 17}
    assert all("positive_rate" in s["labels"]["In-hospital_death"] for s in fed["sites"])
    predictor = Predictor.from_artifact(out / "model")
    stays = sorted((paths.dataset_dir("physionet2012") / "set-a").glob("*.txt"))[:2]
    predictions = predictor.predict([str(p) for p in stays])
    assert not predictions.failures and len(predictions.rows()) == 2
    assert all(0.0 <= row["p_In-hospital_death"] <= 1.0 for row in predictions.rows())
