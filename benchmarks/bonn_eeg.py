"""Bonn EEG seizure detection: accuracy / sensitivity / specificity per protocol with 95 % CIs over segments, and an
augmentation ablation. Writes benchmarks/results/bonn_eeg.json after every run (command, split, seeds, machine, date).

    python benchmarks/bonn_eeg.py                      # the three protocols + the ablation on A vs E
    python benchmarks/bonn_eeg.py --protocols A_vs_E --no-ablation

Figures are segment-level (a segment's decision is the mean of its windows' probabilities), bootstrapped over test
segments (medrnn.metrics.bootstrap through metrics.evaluate). The split is by segment: the Bonn source publishes no
patient identity, so segments of one patient (sets C, D, E) may lie on both sides, which flatters every figure here.
No published LSTM figure is set beside these: the protocols of the papers we could check (window length, split, what
"test" means) do not match ours closely enough to compare, so none is quoted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from medrnn.atomic import atomic_path
from medrnn.tasks.base import get_task
from medrnn.train.run import run_task

RESULTS = Path(__file__).parent / "results" / "bonn_eeg.json"
ABLATION = {  # name -> augment list; strengths as in the task's defaults, each applied with p = 0.5
    "none": [],
    "scale": ["scale:0.2"],
    "wander": ["wander:0.1"],
    "noise": ["noise:20"],
    "shift": ["shift:0.1"],
    "mixup": ["mixup:0.2"],
}


def _figures(report: dict[str, Any], positive: str) -> dict[str, Any]:
    """Accuracy, and sensitivity / specificity of the positive class (seizure, or set E), each with its 95 % CI."""
    ci = report.get("ci", {})
    per = report["per_label"][positive]
    return {"accuracy": report["overall"]["accuracy"], "accuracy_ci": ci.get("overall.accuracy"),
            "sensitivity": per["se"], "sensitivity_ci": ci.get(f"{positive}.se"),
            "specificity": per["spec"], "specificity_ci": ci.get(f"{positive}.spec"),
            "macro_f1": report["overall"]["macro_f1"], "macro_f1_ci": ci.get("overall.macro_f1"),
            "n_segments": report["n_units"]}  # fmt: skip


def run_one(protocol: str, augment: list[str], args: argparse.Namespace) -> dict[str, Any]:
    task = get_task("eeg_seizure")
    cfg = task.config_class.model_validate({
        "data": {"protocol": protocol, "window_s": args.window_s, "stride_s": args.stride_s, "split": "fixed"},
        "train": {"seed": args.seed, "max_epochs": args.epochs, "patience": args.patience, "progress": False},
        "augment": augment, "bootstrap": args.bootstrap,
    })  # fmt: skip
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run_task(task, cfg, Path(tmp) / "run", progress=False)
        metrics = json.loads((Path(tmp) / "run" / "metrics.json").read_text())
    positive = "seizure" if protocol != "five_sets" else "E"
    test = metrics["test"]
    return {"protocol": protocol, "augment": augment, "seconds": round(time.perf_counter() - t0, 1),
            "segment_level": _figures(test["extras"]["segment_level"], positive), "window_level": _figures(test, positive),
            "split_segments": metrics["data"].get("split_segments"), "training": metrics.get("training"),
            "config": cfg.model_dump(mode="json")}  # fmt: skip


def summarise(runs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"protocols": {}, "ablation_A_vs_E": {}}
    for key, r in runs.items():
        s = r["segment_level"]
        line = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items() if not k.endswith("_ci")}
        line.update({k: [round(x, 4) for x in v] if v else None for k, v in s.items() if k.endswith("_ci")})
        (out["ablation_A_vs_E"] if key.startswith("ablation/") else out["protocols"])[key.split("/")[-1]] = line
    base = out["ablation_A_vs_E"].get("none")
    if base:
        for line in out["ablation_A_vs_E"].values():
            line["accuracy_gain_vs_none"] = round(line["accuracy"] - base["accuracy"], 4)
    out["note"] = ("segment-level figures, 95 % percentile-bootstrap CIs over test segments; one seed, one fixed split: "
                   "gains smaller than the CI width are not evidence of an effect")  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", default="A_vs_E,ABCD_vs_E,five_sets")
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--window-s", type=float, default=4.0)
    parser.add_argument("--stride-s", type=float, default=2.0)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable.rsplit("/", 1)[-1], *sys.argv]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "threads": args.threads, "platform": platform.platform(), "torch": torch.__version__},
        "split": "fixed, stratified by class: 60 / 20 / 20 % of segments (train / validation / test), seeded; every window "
                 "of a segment on one side. No patient identity is published, so no patient-wise split is possible.",
        "seeds": [args.seed],
        "settings": {k: v for k, v in vars(args).items() if k != "out"} | {"out": str(args.out)},
        "published_comparison": "none: no published LSTM figure on Bonn was found with a protocol matching this one closely "
                                "enough (segment-wise split with held-out segments, 4 s windows); left out rather than guessed",
        "runs": {},
    }  # fmt: skip
    jobs = [(f"protocol/{p}", p, []) for p in args.protocols.split(",") if p]
    if not args.no_ablation:
        jobs += [(f"ablation/{name}", "A_vs_E", aug) for name, aug in ABLATION.items()]
    for key, protocol, augment in jobs:
        same = next((k for k, r in result["runs"].items() if r["protocol"] == protocol and r["augment"] == augment), None)
        # the ablation's "none" is the A vs E protocol run itself: same config, same seed, reused rather than rerun
        result["runs"][key] = dict(result["runs"][same], reused_from=same) if same else run_one(protocol, augment, args)
        result["summary"] = summarise(result["runs"])
        with atomic_path(args.out) as tmp:
            Path(tmp).write_text(json.dumps(result, indent=1))
        print(key, json.dumps(result["summary"].get("protocols" if key.startswith("protocol") else "ablation_A_vs_E")
                              [key.split("/")[-1]]), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
