"""Real processes on this machine: one `flower-superlink` and one `flower-supernode` per site on 127.0.0.1, TLS with
certificates made for the run, runtime dependency installation disabled, the app submitted with `flwr run`.

Everything lives in a temporary folder removed afterwards: the federation (as in the simulation), the CA and SuperLink
certificate (`certs.py`), FLWR_HOME with the `flwr` connection, and the Flower App project (`deploy_app.py`'s `server`
and `client`). Every process is started in its own session and its whole process group is ended when the run ends, fails
or times out.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord

from medrnn.errors import ConfigError
from medrnn.federated.apps import History
from medrnn.federated.certs import make_certificates
from medrnn.federated.client import Federation, save_federation
from medrnn.federated.config import FederatedConfig

log = logging.getLogger(__name__)

APP_PYPROJECT = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "medrnn-federation"
version = "1.0.0"
description = "medrnn federate --deployment: the task's model trained by the SuperNodes (medrnn.federated.deploy_app)"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "medrnn"

[tool.flwr.app.components]
serverapp = "medrnn_flower_app:server"
clientapp = "medrnn_flower_app:client"

[tool.flwr.app.config]
federation-dir = ""
"""
APP_MODULE = '''"""The Flower App of `medrnn federate --deployment` (the code is medrnn's, installed beside Flower)."""

from medrnn.federated import deploy_app

# top-level assignments: flwr finds the components by reading this file, not by importing it
server = deploy_app.server
client = deploy_app.client
'''


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    """The Flower command beside this Python (the venv's), refused with the install command if missing."""
    path = Path(sys.executable).with_name(name)
    if not path.exists():
        raise ConfigError(f"{name} not found beside {sys.executable}; install the federated extra: pip install 'medrnn[federated]'")
    return str(path)


def _wait_port(port: int, proc: subprocess.Popen, what: str, log_file: Path, timeout_s: float = 60.0) -> None:
    """Wait until `port` accepts connections; a process that exits first is reported with its log's tail."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log_file.read_text(errors='replace')[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s")


class Processes:
    """Started processes, each in its own session; `stop` ends every process group (SuperExec children included)."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env, self.procs = folder, env, []  # type: ignore[var-annotated]

    def start(self, name: str, argv: list[str]) -> tuple[subprocess.Popen, Path]:
        """Start `argv` with its output in `<folder>/<name>.log`."""
        log_file = self.folder / f"{name}.log"
        with log_file.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=self.folder, start_new_session=True)
        self.procs.append(proc)
        return proc, log_file

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM every process group and every descendant (SuperExec starts flwr-serverapp / flwr-clientapp in their own
        sessions), wait up to `grace_s`, then SIGKILL what is left and wait for it."""
        pids = {p.pid for p in self.procs} | {d for p in self.procs for d in _descendants(p.pid)}
        for proc in reversed(self.procs):
            _signal_group(proc.pid, signal.SIGTERM)
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        end = time.monotonic() + grace_s
        while time.monotonic() < end and any(_alive(pid) for pid in pids):
            for proc in self.procs:
                proc.poll()  # reap our direct children
            time.sleep(0.2)
        for proc in self.procs:
            _signal_group(proc.pid, signal.SIGKILL)
        for pid in pids:
            if _alive(pid):  # only what is still running: a pid that ended is never signalled again
                _signal(pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait()


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (by parent id, from /proc), at the moment of the call."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _alive(pid: int) -> bool:
    """Whether `pid` is a live (not zombie) process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal(pid: int, sig: int) -> None:
    """Send `sig` to `pid` if it still exists."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _signal_group(pgid: int, sig: int) -> None:
    """Send `sig` to the process group `pgid` (a process started in its own session leads one)."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def deploy(fed: Federation, fed_config: FederatedConfig, say: Callable[[str], None] = log.info, timeout_s: float = 3600.0,
           keep: Path | None = None) -> History:  # fmt: skip
    """Run the federation on real local processes (module docstring); returns the server's history with the global model.

    `keep`: copy the run's logs (not the certificates' keys) there, e.g. to debug a failed start.
    """
    if fed_config.secagg or fed_config.central_dp_noise:
        raise ConfigError("--deployment runs FedAvg / FedProx / FedAdam with or without --dp-epsilon; --secagg and "
                          "--central-dp-noise run in the simulation only for now")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="medrnn-deploy-") as tmp:
        root = Path(tmp)
        folder = save_federation(fed, root / "federation")
        (folder / "federated.json").write_text(fed_config.model_dump_json(), encoding="utf-8")
        certs = make_certificates(root / "certs")
        app = root / "app"
        app.mkdir()
        (app / "pyproject.toml").write_text(APP_PYPROJECT, encoding="utf-8")
        (app / "medrnn_flower_app.py").write_text(APP_MODULE, encoding="utf-8")
        port = free_port()
        home = root / "flwr-home"
        home.mkdir()
        (home / "config.toml").write_text(f'[superlink]\ndefault = "medrnn"\n\n[superlink.medrnn]\naddress = "127.0.0.1:{port}"\n'
                                          f'root-certificates = "{certs.ca_cert}"\n', encoding="utf-8")  # fmt: skip
        env = {**os.environ, "FLWR_HOME": str(home), "OMP_NUM_THREADS": "1"}
        procs = Processes(root, env)
        try:
            link, link_log = procs.start("superlink", [_bin("flower-superlink"), "--ssl-ca-certfile", str(certs.ca_cert),
                                                       "--ssl-certfile", str(certs.server_cert), "--ssl-keyfile", str(certs.server_key),
                                                       "--disable-runtime-dependency-installation",
                                                       "--database", str(root / "superlink.db"),
                                                       "--port", str(port)])  # fmt: skip
            _wait_port(port, link, "flower-superlink", link_log)
            say(f"SuperLink on https://127.0.0.1:{port} (TLS, CA made for this run); {len(fed.sites)} SuperNodes")
            for i, site in enumerate(fed.sites):
                node_port = free_port()
                node, node_log = procs.start(f"supernode-{i}", [_bin("flower-supernode"), "--root-certificates", str(certs.ca_cert),
                                                                "--superlink", f"127.0.0.1:{port}", "--node-config", f"partition-id={i}",
                                                                "--port", str(node_port)])  # fmt: skip
                _wait_port(node_port, node, f"flower-supernode for site {site.name}", node_log)
            run = subprocess.run([_bin("flwr"), "run", str(app), "medrnn", "--run-config", f'federation-dir="{folder}"', "--stream"],
                                 env=env, cwd=root, capture_output=True, text=True, timeout=timeout_s)  # fmt: skip
            (root / "flwr-run.log").write_text(run.stdout + run.stderr, encoding="utf-8")
            return _result(folder, run, root, say)
        finally:
            procs.stop()
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                for f in root.glob("*.log"):
                    shutil.copy(f, keep / f.name)


def _result(folder: Path, run: subprocess.CompletedProcess, root: Path, say: Callable[[str], None]) -> History:
    """The ServerApp's history and global model (written under the federation folder), or the logs' reason for none."""
    out = folder / "result"
    if run.returncode != 0 or not (out / "global.npz").exists():
        tails = {f.name: f.read_text(errors="replace")[-1500:] for f in sorted(root.glob("*.log"))}
        raise RuntimeError(f"flwr run ended with {run.returncode} and no global model; logs:\n"
                           + "\n".join(f"--- {name}\n{tail}" for name, tail in tails.items()))  # fmt: skip
    saved: dict[str, Any] = json.loads((out / "history.json").read_text(encoding="utf-8"))
    for line in saved.get("lines", []):
        say(line)
    with np.load(out / "global.npz", allow_pickle=False) as z:
        arrays = ArrayRecord({k: Array(z[k]) for k in z.files})
    return History(rounds=saved["rounds"], final_arrays=arrays, seconds=float(saved["seconds"]))
