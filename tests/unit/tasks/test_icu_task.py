"""The ICU task on the contract: the quick config trains on 300 real set-A stays through run_task, and the Predictor
serves stay files from its artifact (bad files, descriptors-only stays and dropped values reported per file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from medrnn.predict import Predictor
from medrnn.tasks.base import get_task
from medrnn.tasks.icu_mortality.task import IcuMortalityTask
from medrnn.train.run import COMPLETE, run_task

OUTCOME = "In-hospital_death"


@pytest.fixture(scope="module")
def quick_run(set_a: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    task = get_task("icu")
    run_dir = tmp_path_factory.mktemp("icu-run")
    run_task(task, task.quick_config(), run_dir, progress=False)
    return run_dir


def test_declarations_and_options_map_to_config_fields() -> None:
    task = get_task("icu")
    assert isinstance(task, IcuMortalityTask) and task.name == "icu_mortality" and task.output_kinds == ("binary",)
    assert task.input_axes == ("hour", "variable") and task.default_model == "gru_d" and task.split_unit.startswith("stay")
    config = task.config_class()
    for option in task.options:
        section, name = option.field.split(".")
        assert hasattr(getattr(config, section), name), option.flag
    assert {o.flag for o in task.options} == {"--sets", "--protocol", "--fold"}
    assert task.quick_config().data.max_stays == 300


def test_quick_run_writes_the_icu_entries(quick_run: Path) -> None:
    assert (quick_run / COMPLETE).exists() and (quick_run / "model" / "artifact.json").exists()
    metrics = json.loads((quick_run / "metrics.json").read_text())
    assert metrics["task"] == "icu_mortality" and metrics["output_kind"] == "binary" and metrics["model"] == "gru_d"
    counts = metrics["split"]["counts"]
    assert sum(counts.values()) == 300 and counts["test"] == 30
    data = metrics["data"]
    assert data["stays_read"] == 4000 and data["stays_used"] == 300
    # the 3 set-A stays without time series are excluded and named, never dropped silently
    assert data["excluded_no_time_series"] == {"count": 3, "record_ids": ["140501", "140936", "141264"], "drop_empty": True}
    assert data["read"]["n_records"] == {"a": 4000} and data["read"]["no_time_series"] == ["140501", "140936", "141264"]
    assert data["left_out_by_max_stays"] == 4000 - 3 - 300
    assert 0 < data["split"]["deaths"]["test"] < 30 and data["split"]["protocol"] == "split"  # stratified: deaths and survivors
    assert 0.0 <= metrics["calibration"]["brier"] <= 1.0 and metrics["sets"] == ["a"]
    assert metrics["test"]["per_label"][OUTCOME]["auroc"] is not None and metrics["test"]["n_boot"] == 20
    saved = np.load(quick_run / "predictions.npz")
    assert saved["y_score"].shape == (30, 1) and set(np.unique(saved["y_true"])) <= {0.0, 1.0}


def test_predictor_reproduces_the_test_scores_from_the_raw_files(quick_run: Path, set_a: Path) -> None:
    saved = np.load(quick_run / "predictions.npz")
    ids, scores = saved["ids"].tolist()[:4], saved["y_score"][:4, 0]
    result = Predictor.from_artifact(quick_run).predict([set_a / f"{r}.txt" for r in ids])
    rows = result.rows()
    # values out of range (a RespRate of 0) become missing as in training: not a problem of the file
    assert result.columns == ["item_id", "record_id", f"p_{OUTCOME}", "n_observations"] and not result.failures
    assert [r["record_id"] for r in rows] == ids and all(r["n_observations"] > 0 for r in rows)
    assert np.allclose([r[f"p_{OUTCOME}"] for r in rows], scores, atol=1e-6)


def test_predictor_reports_bad_files_and_tells_files_of_one_record_apart(quick_run: Path, set_a: Path, tmp_path: Path) -> None:
    first = sorted(set_a.glob("*.txt"))[0]
    copy = tmp_path / "copy" / first.name
    copy.parent.mkdir()
    shutil.copy(first, copy)
    corrupt = tmp_path / "999999.txt"
    corrupt.write_text("Time,Parameter,Value\n00:00,RecordID,999999\n01:xx,HR,80\n")
    empty = set_a / "140501.txt"  # descriptors only
    odd = tmp_path / "888888.txt"
    odd.write_text("Time,Parameter,Value\n00:00,RecordID,888888\n00:00,Age,70\n00:30,HR,80\n00:45,pH,73\n49:10,HR,90\n01:00,Foo,1\n")
    result = Predictor.from_artifact(quick_run).predict([first, copy, corrupt, empty, odd])
    rows = result.rows()
    assert [r["item_id"] for r in rows] == [str(first), str(copy), str(odd)]
    assert rows[0]["record_id"] == rows[1]["record_id"] and rows[0][f"p_{OUTCOME}"] == rows[1][f"p_{OUTCOME}"]
    assert "01:xx" in result.failures[str(corrupt)]["message"] and "999999.txt" in result.failures[str(corrupt)]["message"]
    assert "descriptors only" in result.failures[str(empty)]["message"] and result.n_failed == 2
    rejected = result.failures[str(odd)]["rejected"]  # scored, but what was left out of the stay is reported
    assert {p["field"] for p in rejected} == {"Foo", "Time"} and rows[2]["n_observations"] == 2  # pH 73 made missing
