"""Lightning DDP: each rank's train shard, the flags refused before any data is read, and two CPU processes (gloo) through
the real CLI writing exactly one run folder that matches a single-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from medrnn import paths
from medrnn.config import TrainConfig
from medrnn.data.sampling import LengthBucketSampler
from medrnn.errors import ConfigError
from medrnn.runfiles import COMPLETE
from medrnn.train.distributed import RankShard, check_hardware, is_rank_zero, shard_loader


def _dataset(n: int) -> TensorDataset:
    return TensorDataset(torch.arange(n))


def _batches(loader: DataLoader) -> list[list[int]]:
    return [b[0].tolist() for b in loader]


def test_one_process_keeps_the_loader() -> None:
    loader = DataLoader(_dataset(10), batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert shard_loader(loader, 1, 0) is loader


def test_plain_loader_shards_are_disjoint_and_keep_single_process_batches() -> None:
    def loader(batch_size: int) -> DataLoader:
        return DataLoader(_dataset(64), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(3))

    single = _batches(loader(16))
    ranks = [_batches(shard_loader(loader(8), 2, r)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 4  # same number of steps on every rank
    flat = [sorted(sum(r, [])) for r in ranks]
    assert not set(flat[0]) & set(flat[1]) and sorted(flat[0] + flat[1]) == list(range(64))
    # one DDP step of 2 x 8 covers the samples of one single-process batch of 16: the gradient mean is the same
    assert [sorted(a + b) for a, b in zip(*ranks)] == [sorted(b) for b in single]


def test_uneven_shards_are_padded_to_equal_steps() -> None:
    loader = DataLoader(_dataset(7), batch_size=2, shuffle=False)
    ranks = [_batches(shard_loader(loader, 2, r)) for r in range(2)]
    assert [len(sum(r, [])) for r in ranks] == [4, 4] and len(ranks[0]) == len(ranks[1])
    assert set(sum(ranks[0] + ranks[1], [])) == set(range(7))


def test_unseeded_shuffle_uses_a_distributed_sampler() -> None:
    loader = DataLoader(_dataset(20), batch_size=4, shuffle=True)  # order from the global RNG: not the same on every rank
    ranks = [shard_loader(loader, 2, r, seed=5) for r in range(2)]
    assert all(isinstance(r.sampler, DistributedSampler) for r in ranks)
    a, b = (set(sum(_batches(r), [])) for r in ranks)
    assert not a & b and a | b == set(range(20))


def test_length_buckets_are_sharded_by_whole_batches_and_reshuffle_by_epoch() -> None:
    lengths = np.random.default_rng(0).integers(5, 300, size=103)
    sampler = LengthBucketSampler(lengths, batch_size=8, seed=1, pool=4)
    loader = DataLoader(_dataset(103), batch_sampler=sampler)
    every = [tuple(b) for b in sampler]
    shards = [shard_loader(loader, 2, r) for r in range(2)]
    got = [[tuple(b) for b in _batches(s)] for s in shards]
    assert len(got[0]) == len(got[1]) == 7
    assert set(got[0]) | set(got[1]) == set(every)  # whole buckets, nothing cut in two
    assert len(set(got[0]) & set(got[1])) <= 1  # 13 batches over 2 ranks: one is repeated to pad
    for s in shards:
        s.batch_sampler.set_epoch(1)  # Lightning calls this on the loader's batch sampler each epoch
    assert [tuple(b) for b in _batches(shards[0])] != got[0]


def test_rank_outside_world_is_refused() -> None:
    with pytest.raises(ValueError, match="rank 2 outside a world of 2"):
        RankShard(range(4), 2, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("env, zero", [({}, True), ({"LOCAL_RANK": "1"}, False), ({"NODE_RANK": "1"}, False),
                                       ({"RANK": "3", "LOCAL_RANK": "0"}, False), ({"RANK": "0"}, True)])  # fmt: skip
def test_rank_zero_from_the_launcher_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], zero: bool) -> None:
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert is_rank_zero() is zero


@pytest.mark.parametrize("flags, says", [
    ({"strategy": "ddp_spawn"}, ["--strategy ddp_spawn", "valid: auto, single_device, ddp"]),
    ({"strategy": "fsdp"}, ["--strategy fsdp", "valid:"]),
    ({"accelerator": "abacus"}, ["--accelerator abacus", "Lightning refused"]),
    ({"devices": "x"}, ["--devices x", "Lightning refused"]),
])  # fmt: skip
def test_flags_that_cannot_run_are_refused(flags: dict[str, str], says: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        check_hardware(TrainConfig(**{"accelerator": "cpu", "devices": 2, "strategy": "ddp", **flags}))
    assert all(s in str(err.value) for s in says)


def test_gpu_flags_reach_lightning_unchanged() -> None:
    if torch.cuda.is_available():
        check_hardware(TrainConfig(accelerator="gpu", devices=1, strategy="ddp"))
        return
    with pytest.raises(ConfigError, match=r"--accelerator gpu --devices 2 --strategy ddp .*Lightning refused them"):
        check_hardware(TrainConfig(accelerator="gpu", devices=2, strategy="ddp"))


def test_cli_refuses_a_spawn_strategy_before_making_the_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from medrnn.cli.main import main

    out = tmp_path / "run"
    code = main(["train", "ehr_visits", "--quick", "--no-fetch", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp_spawn",
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    if "medrnn data fetch" in err:
        pytest.skip("MIMIC demo not under the data root")
    assert code == 2 and "--strategy ddp_spawn: not supported" in err and "valid: auto, single_device, ddp" in err
    assert not out.exists()


# ---- two processes through the real CLI ---------------------------------------------------------------------------------
# 360 stays -> 288 training stays: 9 batches of 32, or per rank 9 of 16, so every DDP step covers one single-process batch
N_STAYS = 360
EXACT = ["--set", "model.dropout=0", "--set", "train.max_epochs=2", "--set", f"data.max_stays={N_STAYS}"]


def _train(out: Path, *flags: str) -> subprocess.Popen:
    """`medrnn train icu --quick` in a fresh process (DDP starts the others by running this same command again)."""
    cli = Path(sys.executable).parent / "medrnn"
    command = [sys.executable, str(cli), "train", "icu_mortality", "--quick", "--no-report", "--no-fetch", "--no-progress",
               "--accelerator", "cpu", "--out", str(out), *EXACT, *flags]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, cwd=out.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen) -> str:
    """The process's output once it exited 0 (killed after 150 s)."""
    try:
        out, _ = proc.communicate(timeout=150)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-4000:]
    return out


def _val_curve(run: Path) -> list[float]:
    rows = (run / "logs" / "version_0" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    return [float(r.split(",")[header.index("val_loss")]) for r in rows[1:] if r.split(",")[header.index("val_loss")]]


@pytest.mark.timeout(200)
def test_two_cpu_processes_write_one_run_matching_one_process(tmp_path: Path) -> None:
    source = paths.dataset_dir("physionet2012")
    if not (source / "set-a").is_dir() or not (source / "Outcomes-a.txt").exists():
        pytest.skip(f"PhysioNet 2012 set A not found under the data root ({source}); run `medrnn data fetch physionet2012`")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ddp_run, one_run = tmp_path / "a" / "ddp", tmp_path / "b" / "single"  # each in its own folder: what else lands there shows
    procs = (_train(ddp_run, "--strategy", "ddp", "--devices", "2", "--set", "train.batch_size=16"),
             _train(one_run, "--devices", "1", "--set", "train.batch_size=32"))  # fmt: skip
    ddp, _ = (_finish(p) for p in procs)
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in ddp  # a second process trained
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["ddp"]  # the worker wrote nowhere else
    assert (ddp_run / COMPLETE).is_file() and (ddp_run / "model").is_dir()
    assert ddp.count("run folder:") == 1 and ddp.count("epoch 2/2") == 1  # one process reports
    m_ddp, m_one = (json.loads((r / "metrics.json").read_text()) for r in (ddp_run, one_run))
    assert m_ddp["split"]["counts"]["train"] == 288
    # the same samples per optimizer step and the gradient mean over 2 x 16 equals the mean over 32: the runs differ only
    # by float summation order, which Adam (dividing by sqrt of tiny second moments) lets grow a little each step
    assert m_ddp["training"]["best_epoch"] == m_one["training"]["best_epoch"]
    assert abs(m_ddp["training"]["best_val"] - m_one["training"]["best_val"]) < 1e-3
    assert np.allclose(_val_curve(ddp_run), _val_curve(one_run), rtol=0, atol=1e-4)
    p_ddp, p_one = (np.load(r / "predictions.npz")["y_score_uncalibrated"] for r in (ddp_run, one_run))
    assert np.abs(p_ddp - p_one).max() < 5e-3
