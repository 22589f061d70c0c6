"""Lightning DDP vs one process, on one task: epoch time, final metric, agreement (docs/distributed.md).

Each seed runs the real CLI twice on PhysioNet 2012 (set A, 1,200 stays, 6 epochs): one process at batch 32, and
`--strategy ddp --devices 2 --accelerator cpu` at batch 16 per process (the same 32 samples per step). Timings are
medians over seeds and are quoted as the ratio DDP / one process measured in the same run. Run it alone.

    python benchmarks/ddp.py                    # seeds 0 1 2
    medrnn train icu --quick --accelerator cpu --set data.max_stays=1200 --set train.max_epochs=6 --seed S --devices 1 --out A
    medrnn train icu --quick --accelerator cpu --set data.max_stays=1200 --set train.max_epochs=6 --seed S \\
        --strategy ddp --devices 2 --set train.batch_size=16 --out B
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "ddp.json"
COMMON = ["icu", "--quick", "--no-report", "--no-fetch", "--no-progress", "--accelerator", "cpu", "--set", "data.max_stays=1200",
          "--set", "train.max_epochs=6", "--set", "train.explain=0"]  # fmt: skip
MODES = {"one_process": ["--devices", "1"], "ddp_2": ["--strategy", "ddp", "--devices", "2", "--set", "train.batch_size=16"]}


def run(mode: str, seed: int, work: Path) -> dict[str, Any]:
    """One CLI run; its test AUROC, seconds per epoch and wall time."""
    out = work / f"{mode}-{seed}"
    args = [sys.executable, "-m", "medrnn.cli.main", "train", *COMMON, *MODES[mode], "--seed", str(seed), "--out", str(out), "--overwrite"]
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0
    m = json.loads((out / "metrics.json").read_text())
    return {"mode": mode, "seed": seed, "auroc": m["test"]["overall"]["roc_auc"], "epochs": m["training"]["epochs"],
            "seconds_per_epoch": m["training"]["seconds_per_epoch"], "wall_seconds": round(wall, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--work", type=Path, default=Path("/tmp/medrnn-ddp"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    doc: dict[str, Any] = {"command": " ".join(["python", *sys.argv]), "date": datetime.now(timezone.utc).isoformat(),
                           "machine": machine(), "config": {"common": COMMON, "modes": MODES}, "runs": [], "summary": {}}  # fmt: skip
    for seed in (int(s) for s in args.seeds.split(",")):
        for mode in MODES:
            doc["runs"].append(run(mode, seed, args.work))
            one = [r for r in doc["runs"] if r["mode"] == "one_process"]
            two = [r for r in doc["runs"] if r["mode"] == "ddp_2"]
            pairs = [(a["auroc"], b["auroc"]) for a in one for b in two if a["seed"] == b["seed"]]
            if one and two:
                doc["summary"] = {
                    "one_process_auroc": round(statistics.mean(r["auroc"] for r in one), 4),
                    "ddp_2_auroc": round(statistics.mean(r["auroc"] for r in two), 4),
                    "max_abs_auroc_difference": round(max(abs(a - b) for a, b in pairs), 4) if pairs else None,
                    "epoch_time_ratio_ddp_over_one": round(statistics.median(r["seconds_per_epoch"] for r in two)
                                                           / statistics.median(r["seconds_per_epoch"] for r in one), 2),  # fmt: skip
                    "within_tolerance_0_005": bool(pairs) and max(abs(a - b) for a, b in pairs) <= 0.005,
                }
            args.out.write_text(json.dumps(doc, indent=1))
            print(doc["runs"][-1], flush=True)
    return 0


def render(path: Path = RESULTS) -> str:
    """The docs/benchmarks.md block (`ddp`) from results/ddp.json."""
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    lines = ["| seed | one process AUROC | DDP 2 processes AUROC | s/epoch one | s/epoch DDP |", "|---|---|---|---|---|"]
    for seed in sorted({r["seed"] for r in d["runs"]}):
        a = next((r for r in d["runs"] if r["seed"] == seed and r["mode"] == "one_process"), None)
        b = next((r for r in d["runs"] if r["seed"] == seed and r["mode"] == "ddp_2"), None)
        if a and b:
            lines.append(f"| {seed} | {a['auroc']:.3f} | {b['auroc']:.3f} | {a['seconds_per_epoch']:.2f} | {b['seconds_per_epoch']:.2f} |")
    s, m = d["summary"], d["machine"]
    lines += ["", f"Largest AUROC difference {s.get('max_abs_auroc_difference')} (tolerance 0.005: "
              f"{'met' if s.get('within_tolerance_0_005') else 'not met'}); epoch time DDP / one process "
              f"{s.get('epoch_time_ratio_ddp_over_one')}× (2 cores: two processes share them, so no speed-up is expected here).",
              "", f"Command: `{d['command'].strip()}`; {m['cores']} cores ({m['cpu']}); date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
