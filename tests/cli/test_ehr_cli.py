"""The coded-visit job through the CLI on the real MIMIC-IV demo: patient split, RETAIN explanations and their report
section, multi-label next-visit diagnoses, and `medrnn predict` on JSON patient files."""

from __future__ import annotations

import csv
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


def test_mortality_with_retain_writes_metrics_exact_explanations_and_report(mimic4: Path, tmp_path: Path) -> None:
    run = _train(tmp_path, "--data", str(mimic4), "--task", "next_admission_mortality", "--seed", "3")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == "ehr_visits" and metrics["split"]["unit"] == "patient" and metrics["output_kind"] == "binary"
    assert sum(metrics["data"]["patients"].values()) == 100
    assert metrics["data"]["read"]["n_admissions"] == 275
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["seed"] == 3 and saved["model"]["name"] == "retain" and saved["data"]["task"] == "next_admission_mortality"
    explanations = json.loads((run / "explanations.json").read_text())
    assert explanations, "RETAIN runs explain their first test samples"
    for item in explanations:
        assert abs(sum(item["visit_attention"]) - 1) < 1e-5
        sizes = [abs(c["contribution"]) for c in item["top_codes"]]
        assert sizes == sorted(sizes, reverse=True) and all(v > 0 for v in sizes)  # strongest codes first, absent codes never listed
        assert all(0 <= c["visit"] < len(item["visit_attention"]) for c in item["top_codes"])
    from medrnn.artifact import trained_on
    from medrnn.tasks.base import get_task

    test_ids = np.load(run / "predictions.npz")["ids"].tolist()
    meta = json.loads((run / "model" / "artifact.json").read_text())
    task = get_task("ehr_visits")
    config = task.config_class.model_validate(meta["config"])
    data = task.load(config)
    train_patients = sorted(set(data.units[task.split(data, config).train].tolist()))
    assert trained_on(meta, train_patients) and "items" not in meta["training_data"]  # the artifact holds a salted hash, not ids
    assert not {s.split("/")[0] for s in test_ids} & set(train_patients)  # no test patient was seen in training
    page = (run / "report.html").read_text()
    assert "RETAIN explanations" in page and explanations[0]["sample_id"] in page


def test_next_visit_diagnosis_with_gru_reports_accuracy_at_k(mimic4: Path, tmp_path: Path) -> None:
    run = _train(tmp_path, "--data", str(mimic4), "--target", "next_visit_diagnosis", "--model", "gru", "--no-report")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["output_kind"] == "multilabel"
    assert set(metrics["ranking"]) == {"accuracy@10", "accuracy@20", "samples_without_top_k_label"}
    assert 0 <= metrics["ranking"]["accuracy@10"] <= metrics["ranking"]["accuracy@20"] <= 1
    assert np.load(run / "predictions.npz")["y_score"].shape[1] == len(metrics["test"]["label_names"]) > 1
    assert not (run / "explanations.json").exists()


def test_predict_scores_json_patients_and_names_the_bad_file_and_field(mimic4: Path, tmp_path: Path, poisoned: list[str],
                                                                      batch_survives) -> None:  # fmt: skip
    run = _train(tmp_path, "--data", str(mimic4), "--max-epochs", "1", "--no-report")
    good = {"patient_id": "p1", "admissions": [
        {"hadm_id": "h1", "admit_time": "2180-05-06 22:23:00", "discharge_time": "2180-05-07 17:15:00",
         "codes": ["ICD9_DX:4019", "NDC:00338004904"]},
        {"hadm_id": "h2", "admit_time": "2180-06-26 18:27:00", "discharge_time": "2180-06-27 18:49:00",
         "codes": ["ICD9_DX:4280"]}]}  # fmt: skip
    bad = {"patient_id": "p2", "admissions": [{"hadm_id": "h1", "admit_time": "2180-05-06", "discharge_time": "May 7", "codes": []}]}
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = tmp_path / "risk.csv"
    code = main(["predict", "--artifact", str(run), str(tmp_path / "good.json"), str(tmp_path / "bad.json"), "--out", str(out)])
    assert code == 1  # one input failed: the errors file says which
    rows = list(csv.DictReader(out.open()))
    got = [(r["patient_id"], r["hadm_id"], r["prediction_time"], r["n_visits"]) for r in rows]
    assert got == [("p1", "h2", "2180-06-27T18:49:00", "2")]
    assert 0 < float(rows[0]["p_readmission_30d"]) < 1
    message = out.with_suffix(".errors.json").read_text()
    assert "bad.json" in message and "admissions[0].discharge_time" in message and "good.json" not in message
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)  # nested past Python's recursion limit
    rows = batch_survives(run, [str(tmp_path / "good.json")], [*poisoned, str(deep)])
    assert [r["item_id"] for r in rows] == [str(tmp_path / "good.json")]
