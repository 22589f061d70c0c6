"""The coded-visit job through the CLI on the real MIMIC-IV demo: patient split, RETAIN explanations, multi-label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from medrnn import paths
from medrnn.cli.main import main


@pytest.fixture(scope="module")
def mimic4() -> Path:
    folder = paths.dataset_dir("mimic4-demo")
    if not (folder / "hosp" / "admissions.csv.gz").exists():
        pytest.skip(f"MIMIC-IV demo not found under the data root ({folder}); run `medrnn data fetch mimic4-demo`")
    return folder


def _train(tmp: Path, *args: str) -> Path:
    torch.set_num_threads(1)
    cfg = {"model": {"hidden_size": 8, "embedding_dim": 8}, "train": {"max_epochs": 2}, "bootstrap": 20}
    (tmp / "in.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", "ehr", "-c", str(tmp / "in.yaml"), "--out", str(tmp / "run"), "--no-progress", *args]) == 0
    return tmp / "run"


def test_readmission_with_retain_writes_metrics_and_exact_explanations(mimic4: Path, tmp_path: Path) -> None:
    run = _train(tmp_path, "--data", str(mimic4), "--task", "readmission_30d", "--seed", "3")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["kind"] == "visits" and metrics["split"]["unit"] == "patient"
    assert sum(metrics["split"]["patients"].values()) == 100
    assert metrics["data"]["read"]["n_admissions"] == 275
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["seed"] == 3 and saved["model"]["name"] == "retain"
    explanations = json.loads((run / "explanations.json").read_text())
    assert explanations, "RETAIN runs explain their first test samples"
    for item in explanations:
        assert abs(sum(item["visit_attention"]) - 1) < 1e-5
        sizes = [abs(c["contribution"]) for c in item["top_codes"]]
        assert sizes == sorted(sizes, reverse=True) and all(v > 0 for v in sizes)  # strongest codes first, absent codes never listed
        assert all(0 <= c["visit"] < len(item["visit_attention"]) for c in item["top_codes"])
    test_ids = np.load(run / "predictions.npz")["sample_id"].tolist()
    train_patients = set(json.loads((run / "model" / "artifact.json").read_text())["training_data"]["items"])
    assert not {s.split("/")[0] for s in test_ids} & train_patients  # no test patient was seen in training


def test_next_visit_diagnosis_with_gru_reports_accuracy_at_k(mimic4: Path, tmp_path: Path) -> None:
    run = _train(tmp_path, "--data", str(mimic4), "--task", "next_visit_diagnosis", "--model", "gru")
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["ranking"]) == {"accuracy@10", "accuracy@20", "samples_without_top_k_label"}
    assert 0 <= metrics["ranking"]["accuracy@10"] <= metrics["ranking"]["accuracy@20"] <= 1
    assert np.load(run / "predictions.npz")["y_score"].shape[1] == len(metrics["test"]["task_names"]) > 1
    assert not (run / "explanations.json").exists()
