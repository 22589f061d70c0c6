"""MIMIC-III / MIMIC-IV demo (100 patients each): every visit target x model x seed through `run_task("ehr_visits", ...)`.

The demos are too small for a leaderboard number: a test set holds about 15 patients, so the CIs (a patient
bootstrap) are wide. What this run proves is the pipeline on real MIMIC tables of both schemas; the readers at full
scale are measured by ehr_scale.py.

    python benchmarks/mimic_demo.py --threads 1                        # 2 datasets x 3 tasks x 3 models x seeds 0 1 2
    python benchmarks/mimic_demo.py --datasets mimic3-demo --tasks readmission_30d --models retain --seeds 0

Writes benchmarks/results/mimic_demo.json (resumable; finished runs are skipped) with a "summary" row per
dataset/task/model: mean over seeds of test AUROC (mean over labels for next_visit_diagnosis), AUPRC and accuracy@k.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from medrnn.tasks.base import get_task
from medrnn.tasks.ehr_visits.config import VisitRunConfig
from medrnn.train.run import run_task

RESULTS = Path(__file__).parent / "results" / "mimic_demo.json"
DATASETS = ("mimic3-demo", "mimic4-demo")
TASKS = ("next_admission_mortality", "readmission_30d", "next_visit_diagnosis")
MODELS = {"retain": {"name": "retain"}, "gru": {"name": "gru"}, "bigru": {"name": "gru", "bidirectional": True}}


def run_one(dataset: str, task: str, model: str, seed: int, bootstrap: int) -> dict[str, Any]:
    """One training run; the test scores and CIs of its metrics.json, or the error that stopped it."""
    config = VisitRunConfig.model_validate({"data": {"data": dataset, "task": task}, "model": MODELS[model],
                                            "train": {"seed": seed, "progress": False}, "bootstrap": bootstrap})  # fmt: skip
    row: dict[str, Any] = {"dataset": dataset, "task": task, "model": model, "seed": seed, "error": None}
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            metrics = run_task(get_task("ehr_visits"), config, tmp, progress=False).metrics
    except Exception as err:  # noqa: BLE001 - a failed cell is recorded and the run goes on
        row["error"] = f"{type(err).__name__}: {err}"
        row["traceback"] = traceback.format_exc(limit=3)
        return row
    test = metrics["test"]
    row.update({"auroc": test["overall"].get("roc_auc"), "auprc": test["overall"].get("prc_auc"),
                "auroc_ci": test["ci"].get("overall.roc_auc"), "ci_unit": f"groups ({test['n_units']})", "ranking": metrics["ranking"],
                "labels_scored": len(test["label_names"]) - len(test["extras"]["skipped"]), "samples": metrics["data"]["samples"],
                "patients": metrics["data"]["patients"], "epochs": metrics["training"]["epochs"],
                "train_seconds": metrics["timings"]["train_seconds"], "wall_seconds": time.perf_counter() - start})  # fmt: skip
    return row


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over seeds per dataset/task/model; runs that failed or whose test set holds one class only (AUROC undefined)
    are counted, not averaged."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault(f"{r['dataset']}/{r['task']}/{r['model']}", []).append(r)
    out = {}
    for key, rows in sorted(groups.items()):
        ok = [r for r in rows if r["error"] is None and r.get("auroc") is not None]

        def mean(values: list[float]) -> float | None:
            return statistics.fmean(values) if values else None

        out[key] = {"seeds": sorted(r["seed"] for r in ok), "failed": sum(r["error"] is not None for r in rows),
                    "auroc_undefined": sum(r["error"] is None and r.get("auroc") is None for r in rows),  # one class in test
                    "auroc": mean([r["auroc"] for r in ok]), "auprc": mean([r["auprc"] for r in ok if r["auprc"] is not None]),
                    "auroc_std": statistics.stdev([r["auroc"] for r in ok]) if len(ok) > 1 else None,
                    "accuracy@10": mean([r["ranking"]["accuracy@10"] for r in ok if "accuracy@10" in r["ranking"]]),
                    "test_patients": mean([r["patients"]["test"] for r in ok]),
                    "test_samples": mean([r["samples"]["test"] for r in ok])}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--bootstrap", type=int, default=1000, help="patient-bootstrap resamples per run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    done = {(r["dataset"], r["task"], r["model"], r["seed"]) for r in results["runs"] if r["error"] is None}
    for dataset in args.datasets:
        for task in args.tasks:
            for model in args.models:
                for seed in args.seeds:
                    if (dataset, task, model, seed) in done:
                        continue
                    row = run_one(dataset, task, model, seed, args.bootstrap)
                    key = (dataset, task, model, seed)
                    results["runs"] = [r for r in results["runs"] if (r["dataset"], r["task"], r["model"], r["seed"]) != key]
                    results["runs"].append(row)
                    shown = row["error"] or ("AUROC undefined (one class in test)" if row["auroc"] is None else f"AUROC {row['auroc']:.3f}")
                    print(f"{dataset} {task} {model} seed {seed}: {shown}", flush=True)
                    results.update({"summary": summarize(results["runs"]), "date": datetime.now().isoformat(timespec="seconds"),
                                    "command": "python benchmarks/mimic_demo.py " + " ".join(argv if argv is not None else os.sys.argv[1:]),
                                    "protocol": "patient split 70/15/15 per seed (medrnn.data.splits.patient_split); early stopping "
                                                "on validation loss; CIs: patient bootstrap, 1000 resamples",
                                    "machine": {"cores": os.cpu_count(), "threads": args.threads, "platform": platform.platform(),
                                                "torch": torch.__version__}})  # fmt: skip
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
