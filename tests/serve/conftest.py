"""Shared fixtures of the service tests: tiny real artifacts (each task's quick config, trained once per session on
first use), tiny real inputs, and a real `medrnn serve` process on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from medrnn import paths

pytest.importorskip("fastapi", reason="the service needs medrnn's [serve] extra: pip install 'medrnn[serve]'")
# smaller than the quick configs where they take longest (the suite runs on 2 shared cores)
SMALLER = {"ecg_beats": {"data": {"train_records": ["101", "106", "208"], "test_records": ["100", "119"], "val_records": 1},
                         "model": {"hidden_size": 16, "frontend_channels": 8, "head_hidden": 16}},
           "icd_coding": {"data": {"documents_per_split": 12}}}  # fmt: skip


def merged(base: dict, update: dict) -> dict:
    """`base` with `update`'s leaves set (nested dicts merged)."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """task name -> its artifact folder, from the task's quick config (seconds; trained on first use)."""
    from medrnn.tasks.base import get_task
    from medrnn.train.run import run_task

    base = tmp_path_factory.mktemp("serve-runs")
    done: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in done:
            task = get_task(name)
            config = task.quick_config()
            if name in SMALLER:
                config = task.config_class.model_validate(merged(config.model_dump(), SMALLER[name]))
            run_task(task, config, base / name, progress=False)
            done[name] = base / name / "model"
        return done[name]

    return get


@pytest.fixture(scope="session")
def ecg_record(tmp_path_factory: pytest.TempPathFactory, mitdb_dir: Path) -> Path:
    """The first 10 s of MIT-BIH record 100 as a WFDB record (.hea + .dat), base path returned."""
    import wfdb

    out = tmp_path_factory.mktemp("ecg")
    rec = wfdb.rdrecord(str(mitdb_dir / "100"), sampto=3600, physical=False)
    rec.record_name = "r100"
    rec.file_name = ["r100.dat"] * rec.n_sig
    rec.wrsamp(write_dir=str(out), expanded=False)
    return out / "r100"


@pytest.fixture(scope="session")
def icu_stay() -> Path:
    """One real PhysioNet 2012 stay file."""
    folder = paths.dataset_dir("physionet2012") / "set-a"
    files = sorted(folder.glob("*.txt"))[:1] if folder.is_dir() else []
    if not files:
        pytest.skip(f"PhysioNet 2012 set-a not under the data root ({folder})")
    return files[0]


@pytest.fixture(scope="session")
def note_text() -> str:
    """One real CodiEsp note."""
    folder = paths.dataset_dir("codiesp") / "final_dataset_v4_to_publish" / "dev" / "text_files"
    files = sorted(folder.glob("*.txt"))[:1] if folder.is_dir() else []
    if not files:
        pytest.skip(f"CodiEsp not under the data root ({folder})")
    return files[0].read_text(encoding="utf-8")[:2000]


@pytest.fixture(scope="session")
def smiles_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small SMILES CSV with one unparsable row."""
    path = tmp_path_factory.mktemp("smiles") / "mols.csv"
    path.write_text("smiles,name\nCCO,ethanol\nc1ccccc1O,phenol\nnot_a_smiles,bad\nCC(=O)Oc1ccccc1C(=O)O,aspirin\n")
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(trained: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`medrnn serve` as a real process with the ECG and molecule models; its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    args = [sys.executable, "-m", "medrnn.cli.main", "serve", "--port", str(port), "--log-level", "warning"]
    for name in ("ecg_beats", "molecules"):
        args += ["--artifact", f"{name}={trained(name)}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"medrnn serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail(f"medrnn serve not ready in 60 s: {log.read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
