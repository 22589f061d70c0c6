"""The trained run's Predictor applies its stored calibrator and returns conformal sets with `coverage`; the CLI's
--coverage flag adds the columns and refuses bad values with exit code 2; artifacts without conformal state and
ensembles are refused with what to do. One quick EEG run (the fastest real task) serves every test here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from medrnn import paths
from medrnn.cli.main import main
from medrnn.errors import ArtifactError, ConfigError
from medrnn.predict import Predictor
from medrnn.tasks.base import get_task
from medrnn.train.run import run_task


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (paths.dataset_dir("bonn_eeg") / "S" / "S001.txt").exists():
        pytest.skip("Bonn EEG not found under the data root")
    task = get_task("eeg_seizure")
    out = tmp_path_factory.mktemp("eeg") / "run"
    run_task(task, task.quick_config(), out, progress=False)
    return out


@pytest.fixture(scope="module")
def bonn_file() -> str:
    return str(paths.dataset_dir("bonn_eeg") / "S" / "S001.txt")


def test_metrics_hold_before_after_and_coverage(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["calibrator"]["method"] == "temperature" and metrics["calibrator"]["temperature"] > 0
    assert metrics["calibration"]["ece"] >= 0 and metrics["calibration_before"]["ece"] >= 0
    conformal = metrics["conformal"]
    assert conformal["coverage_target"] == 0.9 and 0 <= conformal["coverage"] <= 1 and conformal["mean_set_size"] >= 0
    npz = np.load(run / "predictions.npz")
    np.testing.assert_array_equal(npz["y_score"].argmax(axis=1), npz["y_score_uncalibrated"].argmax(axis=1))


def test_predictor_returns_sets_with_coverage(run: Path, bonn_file: str) -> None:
    predictor = Predictor.from_artifact(run)
    plain = predictor.predict([bonn_file])
    assert "prediction_set" not in plain.columns and "prediction_set" not in plain.rows()[0]
    result = predictor.predict([bonn_file], coverage=0.9)
    assert not result.failures and result.columns[-2:] == ["prediction_set", "set_size"]
    windows = [r for r in result.rows() if r["level"] == "window"]
    names = set(predictor.label_names)
    for row in windows:
        chosen = [c for c in row["prediction_set"].split("|") if c]
        assert set(chosen) <= names and row["set_size"] == len(chosen)
    sizes = [predictor.predict([bonn_file], coverage=c).rows()[0]["set_size"] for c in (0.5, 0.8)]
    assert sizes[0] <= sizes[1]  # more coverage, never a smaller set
    conformal = result.items[0].scores.extras["conformal"]
    assert conformal.member.shape == result.items[0].scores.values.shape


def test_coverage_the_validation_cannot_give_is_refused(run: Path, bonn_file: str) -> None:
    predictor = Predictor.from_artifact(run)
    with pytest.raises(ConfigError, match=r"--coverage 0.9999: needs at least 10000 validation scores"):
        predictor.predict([bonn_file], coverage=0.9999)
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        predictor.predict([bonn_file], coverage=90)


def test_artifact_without_conformal_state_says_retrain(run: Path, bonn_file: str) -> None:
    p = Predictor.from_artifact(run)
    old = Predictor(p.task, p.model, p.pipeline, {k: v for k, v in p.metadata.items() if k != "uncertainty"}, p.path)
    raw = old.predict([bonn_file])  # still predicts, with the raw probabilities
    assert raw.rows()
    with pytest.raises(ArtifactError, match="no conformal calibration.*retrain"):
        old.predict([bonn_file], coverage=0.9)


def test_ensemble_refuses_coverage(run: Path, bonn_file: str) -> None:
    from medrnn.ensemble import EnsemblePredictor

    p = Predictor.from_artifact(run)
    ensemble = EnsemblePredictor([p, p])
    assert ensemble.predict([bonn_file]).rows()
    with pytest.raises(ConfigError, match="not available for an ensemble"):
        ensemble.predict([bonn_file], coverage=0.9)


def test_cli_coverage_columns_and_bad_values(run: Path, bonn_file: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "p.csv"
    assert main(["predict", "--artifact", str(run), bonn_file, "--coverage", "0.9", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert rows and "prediction_set" in rows[0] and "set_size" in rows[0]
    for bad in ("1.5", "0", "90"):
        capsys.readouterr()
        assert main(["predict", "--artifact", str(run), bonn_file, "--coverage", bad, "--out", str(out)]) == 2
        assert "strictly between 0 and 1" in capsys.readouterr().err
    assert main(["predict", "--artifact", str(run), bonn_file, "--coverage", "abc", "--out", str(out)]) == 2


def test_patient_adaptation_refuses_a_task_without_patients(run: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["fewshot", "ecg", "--run", str(run), "--out", str(tmp_path / "fs")]) == 2
    assert "'eeg_seizure' has no patient adaptation" in capsys.readouterr().err
    assert not (tmp_path / "fs").exists()
