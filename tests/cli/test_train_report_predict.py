"""The main job through the CLI on a few real records: train -> metrics/artifact/report -> predict new records."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml

from medrnn.cli.main import main


@pytest.fixture(scope="module")
def run_dir(mitdb_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    cfg = {
        "data": {"train_records": ["106", "119", "209", "220", "118"], "test_records": ["200", "232"], "val_records": 1},
        "model": {"name": "lstm", "hidden_size": 16, "attention": True, "frontend": "conv"},
        "train": {"max_epochs": 1, "batch_size": 128},
        "bootstrap": 50,
    }
    (out / "in.yaml").write_text(yaml.safe_dump(cfg))
    code = main(["train", "mitdb", "-c", str(out / "in.yaml"), "--out", str(out / "run"), "--seed", "3", "--no-progress"])
    assert code == 0
    return out / "run"


def test_train_writes_a_complete_run_folder(run_dir: Path) -> None:
    for name in ("config.yaml", "metrics.json", "predictions.npz", "report.html", "model/weights.safetensors", "model/artifact.json"):
        assert (run_dir / name).exists(), name
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["train"]["seed"] == 3 and saved["model"]["name"] == "lstm"  # flags override the file, all resolved
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["n_units"] == 2 and metrics["test"]["unit"] == "records"
    assert set(metrics["data"]["test_records"]) == {"200", "232"}
    assert not set(metrics["data"]["validation_records"]) & set(metrics["data"]["train_records"])
    meta = json.loads((run_dir / "model" / "artifact.json").read_text())
    assert meta["preprocessing"]["beats"]["lead"] == "MLII" and meta["class_names"] == ["N", "S", "V", "F", "Q"]
    for field in ("train_records", "test_records"):  # record names leave with the model only as a salted hash and a count
        assert set(meta["config"]["data"][field]) == {"redacted", "salt", "sha256"}
    text = (run_dir / "model" / "artifact.json").read_text()
    assert not any(f'"{record}"' in text for record in ("106", "119", "209", "220", "118", "200", "232"))


def test_report_command_rewrites_the_page(run_dir: Path, tmp_path: Path) -> None:
    assert main(["report", str(run_dir), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    for part in (
        '<img alt="confusion matrix" src="data:image/png;base64,',
        '<img alt="ECG strip" src="data:image/png;base64,',
        '<img alt="ROC curves"',
        "jκ",
        "Beats per class and set",
    ):
        assert part in page, part


def test_predict_new_records_reports_bad_ones_and_goes_on(run_dir: Path, mitdb_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    # a new record: the signal without its reference annotations
    for ext in ("hea", "dat"):
        shutil.copy(mitdb_dir / f"100.{ext}", tmp_path / f"100.{ext}")
    (tmp_path / "broken.hea").write_text("broken 1 360 650000\nbroken.dat 212 200 11 1024 0 0 0 MLII\n")
    out = tmp_path / "beats.csv"
    code = main(["predict", "--artifact", str(run_dir / "model"), str(tmp_path / "100"), str(tmp_path / "broken"), "--out", str(out)])
    assert code == 1  # one record failed
    last = capsys.readouterr().out.splitlines()[-1]  # the summary: how many succeeded, failed, and where the errors are
    assert last.startswith(f"predicted 1 of 2 inputs (1 failed: see {out.with_suffix('.errors.json')}); ") and str(out) in last
    rows = list(csv.DictReader(out.open()))
    assert 2200 <= len(rows) <= 2300  # record 100 has 2273 beats; XQRS finds nearly all of them
    assert {"item_id", "sample", "time_s", "class", "p_N", "p_S", "p_V", "p_F", "p_Q"} == set(rows[0])
    errors = json.loads(out.with_suffix(".errors.json").read_text())
    assert "broken" in next(iter(errors)) and "broken.dat" in next(iter(errors.values()))["message"]


def test_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in (["train", "--help"], ["predict", "--help"], ["report", "--help"], ["data", "--help"], ["--help"]):
        assert main(cmd) == 0
        assert "medrnn" in capsys.readouterr().out


def test_unknown_task_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "eeg"]) == 2
    assert "No such command 'eeg'" in capsys.readouterr().err
    assert main(["train", "--help"]) == 0
    assert "mitdb" in (text := capsys.readouterr().out) and "smiles" in text  # the help lists what can be trained


def test_missing_data_says_how_to_fetch_it(empty_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "mitdb", "--out", str(tmp_path / "run"), "--no-progress", "--no-fetch"]) == 2
    err = capsys.readouterr().err
    assert "medrnn data fetch mitdb" in err and "MEDRNN_DATA" in err and err.count("header file not found") == 0
    assert not (tmp_path / "run").exists()  # the data is checked before the run folder is made


def test_batch_survives_poisoned_records(run_dir: Path, mitdb_dir: Path, poisoned: list[str], batch_survives, tmp_path: Path) -> None:
    for ext in ("hea", "dat"):
        shutil.copy(mitdb_dir / f"100.{ext}", tmp_path / f"100.{ext}")
    long_name = tmp_path / "long.hea"
    long_name.write_text(f"long 1 360 1000\n{'x' * 300}.dat 212 200 11 1024 0 0 0 MLII\n")  # a .dat name the OS refuses
    rows = batch_survives(run_dir / "model", [str(tmp_path / "100")], [*poisoned, str(tmp_path / "long")])
    assert {r["item_id"] for r in rows} == {str(tmp_path / "100")}
