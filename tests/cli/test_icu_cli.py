"""The ICU task through the CLI on 300 real set-A stays: train -> run folder -> report -> predict stay files (one corrupt)."""

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

N_STAYS = 300
OUTCOME = "In-hospital_death"


@pytest.fixture(scope="module")
def icu_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding the first 300 set-A stays (symlinks to the real files), one stay without series, and their outcomes."""
    source = paths.dataset_dir("physionet2012")
    if not (source / "set-a").is_dir() or not (source / "Outcomes-a.txt").exists():
        pytest.skip(f"PhysioNet 2012 set A not found under the data root ({source}); run `medrnn data fetch physionet2012`")
    root = tmp_path_factory.mktemp("p12root")
    folder = root / "physionet2012" / "set-a"
    folder.mkdir(parents=True)
    files = [*sorted((source / "set-a").glob("*.txt"))[:N_STAYS], source / "set-a" / "140501.txt"]  # 140501: descriptors only
    for f in files:
        (folder / f.name).symlink_to(f)
    keep = {f.stem for f in files}
    lines = (source / "Outcomes-a.txt").read_text().splitlines()
    kept = [ln for ln in lines[1:] if ln.split(",")[0] in keep]
    (root / "physionet2012" / "Outcomes-a.txt").write_text("\n".join([lines[0], *kept]) + "\n")
    return root


@pytest.fixture(scope="module")
def icu_run(icu_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("icu")
    cfg = {"model": {"hidden_size": 16, "head_hidden": 8}, "train": {"max_epochs": 2, "batch_size": 32}, "bootstrap": 30}
    (out / "in.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDRNN_DATA", str(icu_root))
        code = main(["train", "icu", "-c", str(out / "in.yaml"), "--sets", "a", "--protocol", "split", "--seed", "1",
                     "--out", str(out / "run"), "--no-progress", "--no-report"])  # fmt: skip
    assert code == 0
    return out / "run"


def test_train_icu_writes_a_complete_run_folder(icu_run: Path) -> None:
    for name in ("config.yaml", "metrics.json", "predictions.npz", "model/weights.safetensors", "model/artifact.json", "RUN_COMPLETE"):
        assert (icu_run / name).exists(), name
    metrics = json.loads((icu_run / "metrics.json").read_text())
    assert metrics["task"] == "icu_mortality" and metrics["model"] == "gru_d"
    counts = metrics["split"]["counts"]
    assert sum(counts.values()) == N_STAYS and counts["test"] == 30  # 140501 (no time series) excluded
    assert metrics["data"]["excluded_no_time_series"]["record_ids"] == ["140501"]
    assert 0 < metrics["data"]["split"]["deaths"]["test"] < 30  # stratified: the test set has deaths and survivors
    assert 0.0 <= metrics["calibration"]["brier"] <= 1.0
    assert metrics["test"]["per_label"][OUTCOME]["auroc"] is not None
    saved = yaml.safe_load((icu_run / "config.yaml").read_text())
    assert saved["data"]["sets"] == ["a"] and saved["train"]["seed"] == 1 and saved["model"]["hidden_size"] == 16


def test_report_has_the_icu_sections(icu_run: Path) -> None:
    assert main(["report", str(icu_run)]) == 0
    html = (icu_run / "report.html").read_text(encoding="utf-8")
    assert "Data quality (PhysioNet 2012 read)" in html and "Stays and deaths per part" in html and "140501" in html


def test_predict_stays_reports_a_corrupt_file_and_scores_the_rest(icu_run: Path, icu_root: Path, tmp_path: Path) -> None:
    stays = sorted((icu_root / "physionet2012" / "set-a").glob("*.txt"))[:3]
    bad = tmp_path / "999999.txt"
    bad.write_text("Time,Parameter,Value\n00:00,RecordID,999999\n01:xx,HR,80\n")
    out = tmp_path / "risk.csv"
    code = main(["predict", "--artifact", str(icu_run / "model"), *map(str, stays), str(bad), "--out", str(out)])
    assert code == 1  # one file failed
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["item_id", "record_id", f"p_{OUTCOME}", "n_observations"]
    assert [r["record_id"] for r in rows] == [s.stem for s in stays] and [r["item_id"] for r in rows] == [str(s) for s in stays]
    assert all(0.0 < float(r[f"p_{OUTCOME}"]) < 1.0 for r in rows)
    errors = json.loads(out.with_suffix(".errors.json").read_text())
    assert list(errors) == [str(bad)] and "999999.txt" in errors[str(bad)]["message"]

    # the artifact reproduces the run's own test predictions from the raw files
    saved = np.load(icu_run / "predictions.npz")
    pred = dict(zip(saved["ids"].tolist(), saved["y_score"][:, 0].tolist()))
    test_ids = sorted(pred)[:2]
    out2 = tmp_path / "again.json"
    assert main(["predict", "--artifact", str(icu_run / "model"),
                 *[str(icu_root / "physionet2012" / "set-a" / f"{r}.txt") for r in test_ids], "--out", str(out2)]) == 0  # fmt: skip
    again = {r["record_id"]: r[f"p_{OUTCOME}"] for r in json.loads(out2.read_text())["predictions"]}
    for r in test_ids:
        assert again[r] == pytest.approx(float(pred[r]), abs=1e-5)


def test_batch_survives_poisoned_stays(icu_run: Path, icu_root: Path, poisoned: list[str], batch_survives) -> None:
    stays = [str(s) for s in sorted((icu_root / "physionet2012" / "set-a").glob("*.txt"))[:2]]
    rows = batch_survives(icu_run / "model", stays, poisoned)
    assert [r["item_id"] for r in rows] == stays
