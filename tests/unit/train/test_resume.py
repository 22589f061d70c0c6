"""Crash-safe runs: resume after SIGKILL gives the uninterrupted model; existing folders and unfinished runs refused."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from medrnn.cli.main import main
from medrnn.errors import ConfigError
from medrnn.runfiles import COMPLETE, require_complete
from medrnn.train.resume import STATE, SafetensorsCheckpointIO

# one thread everywhere: the killed run trains in a fresh process (torch's default threads), the reference and the resumed
# run in this one (where earlier tests set 1 thread); reductions split over other thread counts differ in the last bits
ICU = ["train", "icu", "--quick", "--max-epochs", "6", "--set", "train.patience=10", "--threads", "1", "--no-report", "--no-progress"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted quick ICU run (six epochs, seed 0)."""
    from medrnn import paths

    if not (paths.dataset_dir("physionet2012") / "set-a").is_dir():
        pytest.skip("PhysioNet 2012 set-a not under the data root; run `medrnn data fetch physionet2012`")
    run = tmp_path_factory.mktemp("resume") / "reference"
    assert main([*ICU, "--out", str(run)]) == 0
    return run


def test_checkpoint_io_round_trips_lightning_structures(tmp_path: Path) -> None:
    optimizer = {"state": {0: {"step": torch.tensor(2.0), "exp_avg": torch.ones(2, 3)}}, "param_groups": [{"betas": (0.9, 0.99)}]}
    rng = {"numpy": ("MT19937", np.arange(4, dtype=np.uint32), 1, 0, 0.0)}
    state = {"epoch": 3, "optimizer_states": [optimizer], "best": float("nan"), "inf": -math.inf, "rng": rng, "none": None}
    io = SafetensorsCheckpointIO()
    io.save_checkpoint(state, tmp_path / "ck")
    back = io.load_checkpoint(tmp_path / "ck")
    assert back["optimizer_states"][0]["state"][0]["exp_avg"].equal(torch.ones(2, 3))
    assert back["optimizer_states"][0]["param_groups"][0]["betas"] == (0.9, 0.99)
    assert math.isnan(back["best"]) and back["inf"] == -math.inf and back["none"] is None
    assert back["rng"]["numpy"][1].dtype == np.uint32 and list(back["rng"]["numpy"][1]) == [0, 1, 2, 3]
    with pytest.raises(TypeError, match="does not store"):
        io.save_checkpoint({"object": object()}, tmp_path / "bad")


def test_resume_after_sigkill_gives_the_uninterrupted_model(reference: Path, tmp_path: Path) -> None:
    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "medrnn.cli.main", *ICU, "--out", str(run)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONHASHSEED": "0"})  # fmt: skip
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "resume" / STATE).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # after the first epoch's checkpoint, wherever training is by then
    proc.wait(timeout=30)
    if (run / COMPLETE).exists():
        pytest.skip("the run finished before it could be killed")
    with pytest.raises(ConfigError, match="did not finish"):
        require_complete(run)
    assert main(["report", str(run)]) == 2
    assert main(["train", "icu", "--resume", str(run), "--no-report", "--no-progress"]) == 0
    ours, theirs = load_file(run / "model" / "weights.safetensors"), load_file(reference / "model" / "weights.safetensors")
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert not (run / "checkpoints" / "resume").exists()  # optimizer state removed once the run finished


def test_existing_out_is_refused_unless_overwrite(reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("someone's file")
    assert main([*ICU, "--max-epochs", "1", "--out", str(run)]) == 2
    assert "already exists" in capsys.readouterr().err and (run / "keep.txt").exists()
    assert main([*ICU, "--max-epochs", "1", "--out", str(run), "--overwrite"]) == 2  # not a run: never removed
    assert "is not a medrnn run folder" in capsys.readouterr().err and (run / "keep.txt").exists()
    (run / "config.yaml").write_text("an older run\n")
    assert main([*ICU, "--max-epochs", "1", "--out", str(run), "--overwrite"]) == 0
    assert (run / COMPLETE).exists() and not (run / "keep.txt").exists()
    assert main(["train", "icu", "--resume", str(run)]) == 2
    assert "already finished" in capsys.readouterr().err
    assert main(["train", "icu", "--resume", str(run), "--seed", "3"]) == 2
    assert "keeps its own config.yaml; drop seed" in capsys.readouterr().err


def test_unfinished_run_is_refused_by_predict_and_resume_needs_a_checkpoint(
    reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(reference, run)
    (run / COMPLETE).unlink()
    assert main(["predict", "--artifact", str(run), "x.txt", "--out", str(tmp_path / "p.csv")]) == 2
    assert "did not finish" in capsys.readouterr().err
    assert main(["predict", "--artifact", str(run / "model"), "x.txt", "--out", str(tmp_path / "p.csv")]) == 2
    assert main(["train", "icu", "--resume", str(run), "--no-report"]) == 2
    assert "no resume checkpoint" in capsys.readouterr().err
