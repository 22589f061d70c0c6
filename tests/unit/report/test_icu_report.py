"""ICU mortality report: a synthetic run folder with the real metrics.json structure renders to one escaped HTML file."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from medrnn.config import save_config
from medrnn.errors import InvalidRecordError, MedrnnError
from medrnn.io.physionet2012 import OutOfRangeValue, Physionet2012Report
from medrnn.metrics.calibration import calibration_report
from medrnn.metrics.classification import format_estimate
from medrnn.metrics.molecules import evaluate_molecules
from medrnn.report import write_report
from medrnn.report.icu import write_icu_report
from medrnn.tasks.icu_mortality.config import IcuRunConfig

OUTCOME = "In-hospital_death"
EVIL = "<script>alert('x')</script>"


def _make_run(run_dir: Path, n: int = 120) -> dict:
    """Write metrics.json, predictions.npz and config.yaml as `medrnn train icu` would."""
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.15).astype(np.float64)
    prob = np.clip(0.05 + 0.25 * y + 0.4 * rng.random(n), 0.01, 0.99)
    report = evaluate_molecules(y, prob, [OUTCOME], "classification", n_boot=50, seed=0)
    read = Physionet2012Report(root="/data/physionet2012", n_records={"a": 4000, "b": 3998}, n_rows=1_500_000, n_observations=1_400_000)
    read.no_time_series = ["140501", "140936"]
    read.n_out_of_range = Counter({"pH": 3, "Temp": 2, "Gender (descriptor)": 1})
    read.n_missing_marker = Counter({"Weight (descriptor)": 7, "Height (descriptor)": 4})
    read.out_of_range = [OutOfRangeValue("132539", 125.0, "pH", 73.0), OutOfRangeValue("140100", 30.0, "Temp", -17.8)]
    read.missing_outcomes = ["150000"]
    read.failures = {"set-b/999999.txt": f"line 3: field Time is '01:xx' {EVIL}"}
    metrics = {
        "kind": "icu",
        "dataset": "physionet2012",
        "sets": ["a", "b"],
        "model": "gru_d",
        "split": {"protocol": "split", "seed": 7, "counts": {"train": 8 * n, "val": n, "test": n},
                  "deaths": {"train": 140, "val": 18, "test": int(y.sum())}},
        "test": report.to_dict(),
        "calibration": calibration_report(y, prob),
        "data": {"read": read.to_dict()},
        "training": {"epochs": 14, "best_epoch": 6, "best_val": 0.8412},
        "timings": {"train_seconds": 93.25, "seconds_per_epoch": 6.66, "evaluate_seconds": 0.4},
    }  # fmt: skip
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    np.savez(run_dir / "predictions.npz", record_id=np.array([str(140000 + i) for i in range(n)]), y_true=y, y_score=prob)
    save_config(IcuRunConfig(), run_dir / "config.yaml")
    return metrics


def test_icu_report_has_scores_calibration_data_quality_and_escapes(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "p12_gru_d"
    metrics = _make_run(run)
    out = write_report(run)  # dispatches on metrics.json "kind"
    assert out == run / "report.html"
    html = out.read_text(encoding="utf-8")
    test = metrics["test"]
    for key in ("auroc", "auprc"):
        assert format_estimate(test["per_task"][OUTCOME][key], test["ci"][f"{OUTCOME}.{key}"]) in html
    assert f"{metrics['calibration']['brier']:.4f}" in html and f"base rate {metrics['calibration']['base_rate']:.3f}" in html
    assert "gru_d" in html and "sets A, B" in html and "seed" in html and "960 (140, 14.6%)" in html
    assert "14 (6, validation score 0.8412)" in html and "93.2 s" in html
    assert 'alt="reliability diagram"' in html and 'alt="ROC curve"' in html and 'alt="precision-recall curve"' in html
    images = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    assert len(images) == 3 and all(len(i) > 1000 for i in images)
    # data quality: per-set counts, stays without series, the per-variable table and the listed values
    assert "stays read, set A" in html and "4,000" in html and "140501" in html and "140936" in html
    assert "<tr><td>pH</td><td>6.5 – 8</td><td>3</td><td>0</td><td>0</td></tr>" in html
    assert "<tr><td>Weight (descriptor)</td><td>20 – 350</td><td>0</td><td>7</td><td>0</td></tr>" in html
    assert "<tr><td>Height (descriptor)</td><td>100 – 250</td><td>0</td><td>4</td><td>0</td></tr>" in html
    assert "<tr><td>Gender (descriptor)</td><td>0, 1</td><td>1</td><td>0</td><td>0</td></tr>" in html
    assert "<tr><td>132539</td><td>2:05</td><td>pH</td><td>73</td></tr>" in html
    assert "set-b/999999.txt" in html and "stays without an outcome row (1)" in html
    assert "Excluded from training and evaluation (data.drop_empty: true)" in html
    assert "timings.evaluate_seconds" in html and "outcome: In-hospital_death" in html  # extras and the config
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_icu_report_without_predictions_keeps_the_reliability_diagram(tmp_path: Path) -> None:
    _make_run(tmp_path)
    (tmp_path / "predictions.npz").unlink()
    html = write_icu_report(tmp_path, tmp_path / "sub" / "r.html").read_text(encoding="utf-8")
    assert "predictions.npz not found: no curves" in html and 'alt="reliability diagram"' in html
    assert html.count("data:image/png;base64,") == 1


def test_missing_metrics_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(MedrnnError, match=r"metrics\.json not found.*medrnn train icu"):
        write_icu_report(tmp_path)
    with pytest.raises(MedrnnError, match=r"metrics\.json not found.*medrnn train"):
        write_report(tmp_path)  # no metrics.json, no kind: the dispatcher's own message names the file too


def test_predictions_from_another_run_are_refused(tmp_path: Path) -> None:
    _make_run(tmp_path)
    np.savez(tmp_path / "predictions.npz", y_true=np.zeros(5), y_score=np.full(5, 0.2))
    with pytest.raises(InvalidRecordError, match=r"predictions\.npz: 5 stays, but metrics\.json scored 120"):
        write_report(tmp_path)
