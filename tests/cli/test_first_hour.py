"""The first hour with medrnn: a machine without the data, a mistyped option, help that shows what it says, quiet and
counted training output. Every test is offline (urlopen and sockets fail) and takes seconds."""

from __future__ import annotations

import logging
import socket
import urllib.error
import urllib.request
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from medrnn import __version__, paths
from medrnn.cli.main import main
from medrnn.cli.predict import summary_line
from medrnn.datasets import DATASETS
from medrnn.models import list_models
from medrnn.predict import ItemResult, Predictions
from medrnn.tasks.base import Scores, get_task, task_names


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No network: every urlopen and socket connection fails at once (as on a machine without internet); returns the
    URLs and hosts that were tried."""
    tried: list[str] = []

    def no_url(request: object, *args: object, **kwargs: object) -> None:
        tried.append(str(getattr(request, "full_url", request)))
        raise urllib.error.URLError("[Errno 101] Network is unreachable")

    def no_socket(address: tuple[str, int], *args: object, **kwargs: object) -> None:
        tried.append(address[0])
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_url)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    return tried


def _lines(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], list[str]]:
    captured = capsys.readouterr()
    return captured.out.splitlines(), captured.err.splitlines()


# ---- no data -------------------------------------------------------------------------------------------------------


def test_main_job_without_data_tries_to_fetch_then_says_what_to_do(
    empty_root: Path, offline: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "runs" / "x"
    assert main(["train", "mitdb", "--out", str(run)]) == 2
    out, err = _lines(capsys)
    text = "\n".join(out + err)
    assert len(out + err) <= 5, text
    assert out[0].startswith(f"mitdb (MIT-BIH Arrhythmia Database) is not under the data root {empty_root} (set by MEDRNN_DATA)")
    assert "fetching it from PhysioNet" in out[0] and "RECORDS and .hea/.dat/.atr of 48 records" in out[0]
    assert len(err) == 1 and err[0].startswith("error: could not fetch mitdb")
    assert "`medrnn data fetch mitdb`" in err[0] and "MEDRNN_DATA" in err[0] and "mit-bih-arrhythmia-database-1.0.0/" in err[0]
    assert offline == [] or offline == ["physionet.org"]  # one probe, no download
    assert not run.exists() and not run.parent.exists()  # checked before the run folder is made
    assert list(empty_root.iterdir()) == []  # no empty dataset folder left to stand for the data


def test_no_fetch_is_one_actionable_line(empty_root: Path, offline: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "mitdb", "--out", str(tmp_path / "run"), "--no-fetch"]) == 2
    out, err = _lines(capsys)
    assert out == [] and len(err) == 1 and offline == []
    assert f"data root {empty_root} (set by MEDRNN_DATA)" in err[0] and "`medrnn data fetch mitdb`" in err[0] and "MEDRNN_DATA" in err[0]


@pytest.mark.parametrize("fetch", [[], ["--no-fetch"]])
def test_missing_mimic_demo_is_said_to_be_open_and_fetchable(
    empty_root: Path, offline: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], fetch: list[str]
) -> None:
    assert main(["train", "ehr", "--data", "mimic4-demo", "--out", str(tmp_path / "run"), *fetch]) == 2
    out, err = _lines(capsys)
    assert len(out + err) <= 5 and len(err) == 1
    assert "open data" in err[0] and "`medrnn data fetch mimic4-demo`" in err[0]
    assert not (tmp_path / "run").exists()


def _complete_copy(folder: Path, name: str) -> None:
    """Every file a complete copy of `name` has (empty: completeness is by name)."""
    for group in DATASETS[name].requirements():
        path = folder / group[0]
        if group[0].endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")


@pytest.mark.parametrize("folder", ["mitdb", "mit-bih-arrhythmia-database-1.0.0"])  # PhysioNet's zip unpacks as the second
def test_data_fetch_says_already_present(empty_root: Path, offline: list[str], capsys: pytest.CaptureFixture[str], folder: str) -> None:
    _complete_copy(empty_root / folder, "mitdb")
    assert main(["data", "fetch", "mitdb"]) == 0
    out, err = _lines(capsys)
    assert out[0].startswith(f"mitdb: already present at {empty_root / folder}; nothing to fetch") and not err
    assert offline == []  # nothing downloaded
    assert main(["data", "list"]) == 0
    out, _ = _lines(capsys)
    assert out[0] == f"data root {empty_root}: set by MEDRNN_DATA"
    assert out[2].split() == ["mitdb", "yes", str(empty_root / folder), "145/145"]


# ---- invalid option values: one line naming the option, the value and the choices ----------------------------------

BAD_OPTIONS = {
    "language": (["notes", "--language", "fr"], ["--language 'fr'", "'es' or 'en'"]),
    "sets": (["icu", "--sets", "d"], ["--sets 'd'", "'a', 'b' or 'c'"]),
    "task": (["ehr", "--task", "mortality"], ["--task 'mortality'", "'next_admission_mortality', 'readmission_30d'"]),
    "max_epochs": (["mitdb", "--max-epochs", "0"], ["--max-epochs 0", "greater than or equal to 1"]),
    "data": (["smiles", "--data", "bbbbp"], ["--data 'bbbbp'", "not a MoleculeNet dataset nor a file", "bbbp, bace, hiv"]),
    "model": (
        ["mitdb", "--model", "transformer"],
        ["--model 'transformer'", "unknown model 'transformer'; available: lstm, gru, rnn, beat_rhythm (the models ecg_beats trains"],
    ),
    "set": (["icu", "--set", "train.lrr=1"], ["--set train.lrr 1", "no such config field", "lr, momentum"]),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_each_bad_value_is_one_line_and_exit_2(
    case: str, empty_root: Path, offline: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, expected = BAD_OPTIONS[case]
    # an empty data root and --no-fetch: a check that came after reading data would fail on the data instead
    assert main(["train", *args, "--out", str(tmp_path / "run"), "--no-fetch"]) == 2
    out, err = _lines(capsys)
    assert len(err) == 1 and err[0].startswith("error: "), err
    for part in expected:
        assert part in err[0], (part, err[0])
    assert "--target" not in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "run").exists() and offline == []


def test_model_choices_are_the_tasks_own(empty_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "notes", "--model", "gru", "--out", str(tmp_path / "run")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "model 'gru' does not fit icd_coding; available: laat, caml, bigru_maxpool" in line and "gru_d" not in line


def test_two_bad_fields_are_two_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("train:\n  max_epochs: 0\ndata:\n  sets: [a, z]\n")
    assert main(["train", "icu", "-c", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: {config}: data.sets 'z': input should be 'a', 'b' or 'c'",
                   f"error: {config}: train.max_epochs 0: input should be greater than or equal to 1"]  # fmt: skip


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "mitdb", "--max-epochs", "abc"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "'--max-epochs'" in line and "integer" in line and "medrnn train mitdb --help" in line


def test_every_task_declares_the_models_that_fit_it() -> None:
    for name in task_names():
        task = get_task(name)
        assert task.default_model in task.models and set(task.models) <= set(list_models()), name
        assert task.time_estimate, name


# ---- help and version ----------------------------------------------------------------------------------------------


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main([*args, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # click wraps lines; compare the words


def test_help_keeps_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    assert "admissions: [{hadm_id, admit_time, discharge_time, death_time?, codes}]" in _help(capsys, "predict")
    assert "diagnoses,procedures,prescriptions[,labevents]" in _help(capsys, "train", "ehr")


def test_train_help_shows_the_tasks_defaults_and_time(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "train", "icu")
    assert "Model (default: gru_d). Models: gru_d, gru, lstm, rnn, fusion." in text
    assert "(default: 0)" in text and "Upper bound (default: 40)" in text and "Time: about 8 min" in text
    text = _help(capsys, "train", "mitdb")
    assert "Upper bound (default: 15)" in text and "Time: about 5 min" in text and "--no-fetch" in text


def test_predict_help_names_the_one_id_column(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "predict")
    assert "Every output starts with item_id" in text
    for name in task_names():
        assert "item_id" in get_task(name).predict_help, name


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0 and capsys.readouterr().out.strip() == __version__


# ---- predict summary -----------------------------------------------------------------------------------------------


def test_predict_summary_line(tmp_path: Path) -> None:
    good = ItemResult("a.csv", [{"item_id": "a.csv"}] * 3, Scores(np.zeros((3, 1))))
    result = Predictions("molecules", ["item_id"], [good], {"b.csv": {"error": "InvalidRecordError", "message": "bad"}})
    out = tmp_path / "p.csv"
    line = summary_line(result, 2, out, out.with_suffix(".errors.json"))
    assert line == f"predicted 1 of 2 inputs (1 failed: see {tmp_path / 'p.errors.json'}); 3 rows in {out}"
    line = summary_line(Predictions("molecules", ["item_id"], [good]), 1, out, None)
    assert line == f"predicted 1 of 1 inputs (none failed); 3 rows in {out}"


# ---- training output -----------------------------------------------------------------------------------------------


def test_training_output_is_quiet_counted_from_one_and_says_why_it_stopped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    from medrnn.config import TrainConfig
    from medrnn.data.batch import SequenceDataset, collate
    from medrnn.models import create_model
    from medrnn.train.fit import ProgressBar, fit_module
    from medrnn.train.task_module import TaskModule

    rng = np.random.default_rng(0)
    data = SequenceDataset(rng.normal(size=(32, 6, 3)), rng.integers(0, 2, size=32).astype(float))
    # a learning rate of ~0 leaves the validation loss exactly where it was: early stopping after epoch 2, deterministically
    config = TrainConfig(max_epochs=5, patience=1, lr=1e-30, optimizer="sgd", monitor="val_loss", batch_size=16, progress=False,
                         augment=False, class_weighting="none", accelerator="cpu", devices=1)  # fmt: skip
    L.seed_everything(0, verbose=False)
    module = TaskModule(create_model("gru", input_size=3, num_classes=1, hidden_size=4, head_hidden=0), config, "binary", 1)
    loader = torch.utils.data.DataLoader(data, batch_size=16, collate_fn=collate)
    with caplog.at_level(logging.INFO):
        fit = fit_module(module, loader, loader, config, tmp_path, *module.monitor)
    messages = [r.getMessage() for r in caplog.records]
    assert fit.epochs == 2 and messages[0].startswith("epoch 1/5: train_loss ") and messages[1].startswith("epoch 2/5: ")
    assert messages[2].startswith("early stopping after epoch 2: no improvement of val_loss for 1 epochs; best epoch 1 (val_loss ")
    captured = capfd.readouterr()
    noise = "\n".join([*messages, captured.out, captured.err, *(str(w.message) for w in recwarn)])
    for word in ("GPU available", "TPU available", "litlogger", "litmodels", "LeafSpec", "weights_only", "v_num"):
        assert word not in noise, word
    assert "v_num" not in ProgressBar().get_metrics(_FakeTrainer(), module)


class _FakeTrainer:
    """What TQDMProgressBar.get_metrics reads of a trainer with a CSV logger (v_num = its version)."""

    progress_bar_metrics: dict[str, float] = {"val_loss": 0.5}

    class _Logger:
        version = 3

    loggers = [_Logger()]


# ---- the data root does not depend on the working directory (see tests/unit/test_paths.py for the order) ------------


def test_data_root_is_the_same_from_another_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDRNN_DATA", raising=False)
    here = paths.data_root()
    monkeypatch.chdir(tmp_path)
    assert paths.data_root() == here


def test_bootstrap_progress_bar_draws_the_same_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    from medrnn.metrics import bootstrap

    def draws(tty: bool, enabled: bool) -> tuple[np.ndarray, int]:
        monkeypatch.setattr(bootstrap.sys.stderr, "isatty", lambda: tty, raising=False)
        with bootstrap.progress_bars(enabled):
            blocks = list(bootstrap.resample_counts(np.random.default_rng(7), 22, 1000))
        return np.concatenate(blocks), len(blocks)

    plain, n_plain = draws(tty=False, enabled=True)
    shown, n_shown = draws(tty=True, enabled=True)
    off, n_off = draws(tty=True, enabled=False)
    assert n_plain == n_off == 1 and n_shown == bootstrap.PROGRESS_STEPS  # the bar moves in steps...
    assert np.array_equal(plain, shown) and np.array_equal(plain, off)  # ...over the very same draws
