"""Load on `medrnn serve`: a bounded httpx asyncio load generator against a real uvicorn process on 127.0.0.1.

Per task's typical input (a 10 s ECG record as an upload, one ICU stay file, one note and 32 SMILES as JSON, one 28³
volume as a NIfTI upload) at 1, 10
and 50 concurrent clients, with micro-batching (`--max-batch 64`: requests queued while the model is busy share its next
forward pass) and without (`--max-batch 1`): p50/p99 latency, throughput, errors, 5xx, and the server's RSS after the
warm-up and at the end (memory flat?). Each cell sends a fixed number of requests and stops early at a fixed duration.
Writes benchmarks/results/serve.json after every cell. Run it alone: other work on the 2 cores distorts every figure.

    python benchmarks/serve_load.py                       # trains the quick artifacts first (a minute)
    python benchmarks/serve_load.py --artifacts /tmp/runs # reuse RUN folders named ecg_beats, molecules, ...
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "serve.json"
TASKS = {"ecg": "ecg_beats", "icu": "icu_mortality", "note": "icd_coding", "smiles": "molecules", "volume": "adrenal_mnist3d"}
CONCURRENCY = (1, 10, 50)
REQUESTS = {1: 40, 10: 120, 50: 250}  # per cell, fewer when the duration cap is reached first
MAX_SECONDS = 20.0


def artifacts(folder: Path | None, work: Path) -> dict[str, Path]:
    """Task -> artifact folder: the given RUN folders, else each task's quick config trained now."""
    from medrnn.tasks.base import get_task
    from medrnn.train.run import run_task

    out = {}
    for name in TASKS.values():
        run = (folder or work) / name
        if not (run / "model" / "artifact.json").exists():
            task = get_task(name)
            run_task(task, task.quick_config(), run, progress=False, overwrite=True)
        out[name] = run / "model"
    return out


def inputs(work: Path) -> dict[str, dict[str, Any]]:
    """One typical request body per task (httpx keyword arguments)."""
    import wfdb

    from medrnn import paths

    rec = wfdb.rdrecord(str(paths.dataset_dir("mitdb") / "100"), sampto=3600, physical=False)  # 10 s at 360 Hz
    rec.record_name, rec.file_name = "r100", ["r100.dat"] * rec.n_sig
    rec.wrsamp(write_dir=str(work), expanded=False)
    stay = sorted((paths.dataset_dir("physionet2012") / "set-a").glob("*.txt"))[0]
    note = sorted((paths.dataset_dir("codiesp") / "final_dataset_v4_to_publish" / "dev" / "text_files").glob("*.txt"))[0]
    smiles = [line.split(",")[1] for line in (paths.dataset_dir("moleculenet") / "SAMPL.csv").read_text().splitlines()[1:33]]
    record = [("files", (name, (work / name).read_bytes())) for name in ("r100.hea", "r100.dat")]
    import nibabel

    volume = np.load(paths.dataset_dir("medmnist3d") / "adrenalmnist3d.npz")["test_images"][0]  # one 28^3 shape mask
    nibabel.save(nibabel.Nifti1Image(volume.astype(np.uint8), np.eye(4)), work / "volume.nii.gz")
    return {"ecg": {"files": record},
            "icu": {"files": [("files", (stay.name, stay.read_bytes()))]},
            "note": {"json": {"items": [note.read_text(encoding="utf-8")]}},
            "smiles": {"json": {"items": smiles}},
            "volume": {"files": [("files", ("volume.nii.gz", (work / "volume.nii.gz").read_bytes()))]}}  # fmt: skip


def rss_kb(pid: int) -> dict[str, int]:
    """Current and peak resident memory of a process (kB), from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return {"rss_kb": fields.get("VmRSS", 0), "peak_kb": fields.get("VmHWM", 0)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(models: dict[str, Path], max_batch: int, log: Path) -> tuple[subprocess.Popen, str]:
    """`medrnn serve` with every model, waiting until /ready."""
    import httpx

    port = free_port()
    args = [sys.executable, "-m", "medrnn.cli.main", "serve", "--port", str(port), "--log-level", "warning",
            "--max-batch", str(max_batch), "--max-queue", "1024"]  # fmt: skip
    for name, path in models.items():
        args += ["--artifact", f"{name}={path}"]
    proc = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-1500:]}")
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server not ready in 120 s")


async def cell(url: str, model: str, body: dict[str, Any], clients: int, n_requests: int) -> dict[str, Any]:
    """`clients` concurrent clients sending `n_requests` requests in all (or until MAX_SECONDS)."""
    import httpx

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors = 0
    sent = 0
    t0 = time.perf_counter()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal sent, errors
        while sent < n_requests and time.perf_counter() - t0 < MAX_SECONDS:
            sent += 1
            start = time.perf_counter()
            try:
                r = await http.post(f"{url}/models/{model}/predict", **body)
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
                if r.status_code != 200 or r.json()["n_failed"]:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    wall = time.perf_counter() - t0
    ms = np.asarray(latencies) * 1000
    return {"clients": clients, "requests": len(latencies), "seconds": round(wall, 2), "throughput_rps": round(len(latencies) / wall, 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
            "errors": errors, "status": statuses, "n_5xx": sum(v for k, v in statuses.items() if k.startswith("5"))}  # fmt: skip


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary keys: ecg_p50_ms_c1, ecg_p99_ms_c50, ecg_throughput_c50, batching_speedup_c50, errors, and per task."""
    def get(mode: str, key: str, clients: int) -> dict[str, Any] | None:
        return next((r for r in runs if r["mode"] == mode and r["input"] == key and r["clients"] == clients), None)

    out: dict[str, Any] = {}
    for key in TASKS:
        c1, c50, plain = get("batched", key, 1), get("batched", key, 50), get("unbatched", key, 50)
        prefix = "" if key == "ecg" else f"{key}_"
        out[f"{key}_p50_ms_c1"] = c1["p50_ms"] if c1 else None
        out[f"{key}_p99_ms_c50"] = c50["p99_ms"] if c50 else None
        out[f"{key}_throughput_c50"] = c50["throughput_rps"] if c50 else None
        out[f"{prefix}batching_speedup_c50"] = round(c50["throughput_rps"] / plain["throughput_rps"], 2) if c50 and plain else None
    out["errors"] = sum(r["errors"] for r in runs)
    out["n_5xx"] = sum(r["n_5xx"] for r in runs)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=None, help="folder of RUN folders named by task (trained when missing)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/medrnn-serve-bench"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--inputs", default=",".join(TASKS), help="comma-separated subset of " + ",".join(TASKS))
    args = parser.parse_args(argv)
    keys = [k for k in args.inputs.split(",") if k in TASKS]
    args.work.mkdir(parents=True, exist_ok=True)
    models = artifacts(args.artifacts, args.work)
    bodies = inputs(args.work)
    doc: dict[str, Any] = {"command": " ".join(["python", *sys.argv]), "date": dt.datetime.now(dt.timezone.utc).isoformat(),
                           "machine": machine(), "config": {"requests": REQUESTS, "max_seconds": MAX_SECONDS, "batched": "--max-batch 64",
                           "unbatched": "--max-batch 1", "batch_window_ms": 0,
                           "inputs": {"ecg": "10 s of MIT-BIH 100 (.hea + .dat upload)", "icu": "one PhysioNet 2012 stay file (upload)",
                                      "note": "one CodiEsp note (JSON)", "smiles": "32 SMILES of SAMPL (JSON)",
                                      "volume": "one 28^3 AdrenalMNIST3D volume (.nii.gz upload)"}},
                           "runs": [], "memory": {}, "summary": {}}  # fmt: skip
    for mode, max_batch in (("batched", 64), ("unbatched", 1)):
        proc, url = start_server(models, max_batch, args.work / f"server-{mode}.log")
        try:
            doc["memory"][mode] = {"start": rss_kb(proc.pid)}
            for key in keys:
                asyncio.run(cell(url, TASKS[key], bodies[key], 50, 100))  # warm-up at full load: the allocator's high water
            doc["memory"][mode]["warm"] = rss_kb(proc.pid)
            for key in keys:
                task = TASKS[key]
                for clients in CONCURRENCY:
                    result = asyncio.run(cell(url, task, bodies[key], clients, REQUESTS[clients]))
                    doc["runs"].append({"mode": mode, "input": key, **result})
                    doc["memory"][mode]["end"] = rss_kb(proc.pid)
                    doc["summary"] = summarise(doc["runs"])
                    args.out.write_text(json.dumps(doc, indent=1))
                    print(mode, key, clients, result["p50_ms"], result["p99_ms"], result["throughput_rps"], result["errors"], flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return 0


def render(path: Path = RESULTS) -> str:
    """The docs/benchmarks.md block (`serve`) from results/serve.json."""
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    lines = ["| input | clients | batched p50 / p99 ms | batched req/s | unbatched p50 / p99 ms | unbatched req/s | speedup | errors |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for key in TASKS:
        for clients in CONCURRENCY:
            b = next((r for r in d["runs"] if r["mode"] == "batched" and r["input"] == key and r["clients"] == clients), None)
            u = next((r for r in d["runs"] if r["mode"] == "unbatched" and r["input"] == key and r["clients"] == clients), None)
            if b is None:
                continue
            speed = f"{b['throughput_rps'] / u['throughput_rps']:.2f}×" if u else "–"
            ul = f"{u['p50_ms']:.0f} / {u['p99_ms']:.0f} | {u['throughput_rps']:.1f}" if u else "– | –"
            lines.append(f"| {key} | {clients} | {b['p50_ms']:.0f} / {b['p99_ms']:.0f} | {b['throughput_rps']:.1f} | {ul} | {speed} | "
                         f"{b['errors'] + (u['errors'] if u else 0)} |")  # fmt: skip
    mem = d.get("memory", {})
    m = d["machine"]
    def mb(v: dict[str, Any], when: str, key: str = "rss_kb") -> str:
        return f"{v.get(when, v['start'])[key] / 1024:.0f}"

    memory = "; ".join(f"{mode}: RSS {mb(v, 'warm')} MB after warm-up → {mb(v, 'end')} MB at the end, peak {mb(v, 'end', 'peak_kb')} MB"
                       for mode, v in mem.items())  # fmt: skip
    s = d["summary"]
    lines += ["", f"Server memory: {memory}. Errors in all: {s.get('errors')}, 5xx: {s.get('n_5xx')}.", "",
              f"Command: `{d['command'].strip()}`; {m['cores']} cores ({m['cpu']}), Python {m['python']}{m.get('note', '')}; "
              f"date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
