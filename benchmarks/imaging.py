"""Medical image sequences: LIDC nodule malignancy (benign vs malignant, split by patient) with the slice model
(CNN per slice -> BiLSTM -> slice attention), several seeds, AUROC with 95 % CIs over test patients; and
AdrenalMNIST3D on its official split when that task is registered. Writes benchmarks/results/imaging.json after every
run (command, machine, date, per-seed figures, summary).

    OMP_NUM_THREADS=1 python benchmarks/imaging.py                       # LIDC, seeds 0 1 2 (+ adrenal when registered)
    OMP_NUM_THREADS=1 python benchmarks/imaging.py --seeds 0 --epochs 5  # a short check

The split is by patient (all nodules of a patient on one side), stratified by label, seeded: each seed is a different
split and initialisation, so the spread over seeds includes the split. Every choice was made on validation patients
only; test figures were read once per run. Published NoduleMNIST3D figures are not the same protocol (28^3 cubes of
the same LIDC nodules, MedMNIST's own split): set beside ours for orientation, not as a like-for-like comparison.
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

import numpy as np
import torch

from medrnn.atomic import atomic_path
from medrnn.tasks.base import get_task, task_names
from medrnn.train.run import run_task

RESULTS = Path(__file__).parent / "results" / "imaging.json"
# MedMNIST v2 (Yang et al., Scientific Data 10:41, 2023) reports test AUC/ACC of ResNet-18/50 (2.5D, 3D, ACS), auto-sklearn
# and AutoKeras on NoduleMNIST3D and AdrenalMNIST3D. Only figures confirmed against the paper or the MedMNIST README go here.
# Test AUC, 28^3, from the project's own site (medmnist.github.io v2.html, the 2021 pre-publication table; NoduleMNIST3D's
# test set was corrected later, in MedMNIST v2.1.0); the paper's Table 4 could not be read from a stored copy. Not the
# same protocol as our LIDC runs (28^3 cubes, MedMNIST's split); AdrenalMNIST3D is the same task and split.
PUBLISHED: dict[str, Any] = {
    "source": "MedMNIST v2, Yang et al., Scientific Data 10:41 (2023), doi:10.1038/s41597-022-01721-8; figures from "
              "medmnist.github.io v2.html (the 2021 pre-publication table)",
    "metric": "test AUC",
    "nodulemnist3d": {"resnet18_2.5d": 0.885, "resnet18_3d": 0.915, "resnet18_acs": 0.888, "resnet50_2.5d": 0.861,
                      "resnet50_3d": 0.902, "resnet50_acs": 0.924, "auto_sklearn": 0.872, "autokeras": 0.847},
    "adrenalmnist3d": {"resnet18_2.5d": 0.707, "resnet18_3d": 0.819, "resnet18_acs": 0.824, "resnet50_2.5d": 0.735,
                       "resnet50_3d": 0.809, "resnet50_acs": 0.821, "auto_sklearn": 0.828, "autokeras": 0.802},
}  # fmt: skip


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    return {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "cpus_visible": os.cpu_count()}  # fmt: skip


def accuracy(run_dir: Path) -> float:
    """Test accuracy at probability 0.5 (binary) or the arg-max class, from the run's predictions.npz."""
    saved = np.load(run_dir / "predictions.npz")
    y, s = saved["y_true"], saved["y_score"]
    if s.ndim == 2 and s.shape[1] > 1:
        return float((s.argmax(1) == y.astype(int)).mean())
    return float(((s.reshape(-1) > 0.5) == (y.reshape(-1) > 0.5)).mean())


def run_one(task_name: str, overrides: dict[str, Any], seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """One training run; its headline test figures, timings and the task's own entries."""
    task = get_task(task_name)
    cfg = task.config_class().model_dump()
    for section, values in overrides.items():
        cfg[section] = {**cfg[section], **values} if isinstance(values, dict) else values
    cfg["train"].update({"seed": seed, "progress": False, **({"max_epochs": args.epochs} if args.epochs else {})})
    cfg["bootstrap"] = args.bootstrap
    cfg = task.config_class.model_validate(cfg)
    with tempfile.TemporaryDirectory(prefix="medrnn-imaging-") as tmp:
        t0 = time.perf_counter()
        result = run_task(task, cfg, Path(tmp) / "run", progress=False)
        m = result.metrics
        out = {"seed": seed, "auroc": m["test"]["overall"]["roc_auc"], "auroc_ci": m["test"]["ci"].get("overall.roc_auc"),
               "auprc": m["test"]["overall"]["prc_auc"], "accuracy": accuracy(Path(tmp) / "run"),
               "n_test": m["test"]["n_samples"], "n_test_units": m["test"]["n_units"], "unit": m["test"]["unit"],
               "epochs": m["training"]["epochs"], "best_epoch": m["training"]["best_epoch"], "best_val": m["training"]["best_val"],
               "train_seconds": round(m["timings"]["train_seconds"], 1), "wall_seconds": round(time.perf_counter() - t0, 1),
               "volumes_per_second_inference": round(1000.0 / max(m["timings"]["inference_ms_per_sample"], 1e-9), 1),
               "calibration": m.get("calibration"), "split": m["split"]}  # fmt: skip
        for key in ("attention_in_outlines", "dataset"):
            if key in m:
                out[key] = m[key]
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and spread over seeds, with the first seed's bootstrap CI (by patient) beside it."""
    auroc = [r["auroc"] for r in runs if r["auroc"] is not None]
    out = {"auroc": round(float(np.mean(auroc)), 4) if auroc else None,
           "auroc_sd_over_seeds": round(float(np.std(auroc)), 4) if auroc else None,
           "auroc_per_seed": [r["auroc"] for r in runs], "auroc_ci": runs[0]["auroc_ci"], "auroc_ci_seed": runs[0]["seed"],
           "accuracy": round(float(np.mean([r["accuracy"] for r in runs])), 4),
           "train_seconds_mean": round(float(np.mean([r["train_seconds"] for r in runs])), 1),
           "volumes_per_second_inference": round(float(np.mean([r["volumes_per_second_inference"] for r in runs])), 1)}  # fmt: skip
    shares = [r["attention_in_outlines"] for r in runs if r.get("attention_in_outlines", {}).get("nodules")]
    if shares:
        out["attention_in_outlines"] = {k: round(float(np.mean([s[k] for s in shares])), 4)
                                        for k in ("attention_share", "uniform_share", "nodules_above_uniform")}  # fmt: skip
    return out


RECIPES: dict[str, tuple[str, dict[str, Any]]] = {  # name -> (task, config overrides)
    "lidc/slice_rnn": ("lidc_nodules", {}),
    # baselines beside it: a plain 3-D CNN on the same slices, and the seed's literal recipe (an LSTM over the rows of one
    # slice, the central one), both with the task's defaults otherwise
    "lidc/cnn3d": ("lidc_nodules", {"model": {"name": "cnn3d"}}),
    # MONAI ResNet-18s (full width) on the same slices resampled to a 32^3 cube: 3-D, and 2.5-D (its three central planes)
    "lidc/resnet3d": ("lidc_nodules", {"model": {"name": "resnet3d"}}),
    "lidc/resnet2p5d": ("lidc_nodules", {"model": {"name": "resnet2p5d"}}),
    "lidc/rows_lstm": ("lidc_nodules", {"model": {"name": "lstm"}, "data": {"layout": "central_slice_rows"}, "train": {"explain": 0}}),
    "adrenal/slice_rnn": ("adrenal_mnist3d", {}),
}
HEADLINE_MODEL = {"lidc": "slice_rnn", "adrenal": "slice_rnn"}  # the model of each world's headline; others are baselines


def summaries(runs: dict[str, Any]) -> dict[str, Any]:
    """The summary of every world from all recipes' runs: the headline model's figures, the baselines' mean AUROC."""
    out: dict[str, Any] = {}
    for recipe, recipe_runs in runs.items():
        if not isinstance(recipe_runs, list) or not recipe_runs:
            continue
        world, model = recipe.split("/")
        entry = out.setdefault(world, {"baselines": {}})
        if model == HEADLINE_MODEL.get(world):
            entry.update({"model": model, **summarise(recipe_runs)})
        else:
            entry["baselines"][model] = summarise(recipe_runs)["auroc"]
    return out


def write(results: dict[str, Any], out: Path) -> None:
    """Merge this process's runs into the results file (other recipes' runs kept), re-summarise, write atomically."""
    merged = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    runs = dict(merged.get("runs", {}))
    for recipe, new in results["runs"].items():  # a recipe's runs by seed: a new run of a seed replaces the old one
        old = runs.get(recipe) if isinstance(runs.get(recipe), list) else []
        runs[recipe] = new if not isinstance(new, list) else sorted({r["seed"]: r for r in [*old, *new]}.values(), key=lambda r: r["seed"])
    listed = [c for c in [*merged.get("commands", []), merged.get("command"), *results.get("commands", []), results["command"]] if c]
    held = [r.get("command") for rs in runs.values() if isinstance(rs, list) for r in rs]
    merges = [c for c in listed if " --merge " in c]
    legacy = [] if all(held) else [c for c in listed if c not in merges]  # runs written before each run named its command
    merged.update({k: v for k, v in results.items() if k not in ("runs", "commands")})
    merged["commands"] = list(dict.fromkeys([*filter(None, held), *legacy, *merges]))  # the commands of the runs the file holds
    merged["runs"], merged["summary"] = runs, summaries(runs)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(merged, indent=2, default=float), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), help=f"of {', '.join(RECIPES)}")
    parser.add_argument("--epochs", type=int, default=None, help="max epochs (default: the task's)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--merge", type=Path, nargs="*", default=[], help="only merge the runs of these result files into --out")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"command": "python " + " ".join(map(shlex.quote, ["benchmarks/imaging.py", *sys.argv[1:]])),
                               "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
                               "published": PUBLISHED, "runs": {}}  # fmt: skip
    if args.merge:
        for path in args.merge:
            other = json.loads(path.read_text(encoding="utf-8"))
            for recipe, runs in other.get("runs", {}).items():
                known = results["runs"].get(recipe, [])
                results["runs"][recipe] = [*known, *runs] if isinstance(runs, list) and isinstance(known, list) else runs
            results["commands"] = [*results.get("commands", []), *other.get("commands", []), other.get("command", "")]
        write(results, args.out)
        return 0
    registered = set(task_names())
    for recipe in args.recipes:
        task_name, overrides = RECIPES[recipe]
        if task_name not in registered:
            results["runs"][recipe] = {"skipped": f"task {task_name!r} is not registered"}
            continue
        runs = []
        for seed in args.seeds:
            runs.append({**run_one(task_name, overrides, seed, args), "command": results["command"]})
            print(f"{recipe} seed {seed}: AUROC {runs[-1]['auroc']:.4f} {runs[-1]['auroc_ci']} acc {runs[-1]['accuracy']:.3f} "
                  f"({runs[-1]['train_seconds']:.0f} s)", flush=True)  # fmt: skip
            results["runs"][recipe] = runs
            write(results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
