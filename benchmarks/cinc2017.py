"""PhysioNet/CinC 2017 AF classification: the af_rhythm CRNN (strided conv front-end -> biLSTM -> attention pooling).

Two protocols on the records under the data root (cinc2017_af: the first 4,000 training records, v3 labels), both
stratified by class with the record as the unit (the challenge gives no patient id):
  cv     5-fold stratified cross-validation; validation = a stratified 15 % of the training folds (early stopping only)
  split  the fixed stratified 70/15/15 split the `medrnn train af_rhythm` artifact uses -> f1_test
Score: the challenge F1 = mean F1 of N, A and O (Clifford et al. 2017); F1 of ~ reported beside it. Nothing is tuned on
test folds: the epoch is chosen on each run's own validation records, the recipe is the task's default.

    python benchmarks/cinc2017.py                                    # the full benchmark (5 folds + the fixed split)
    python benchmarks/cinc2017.py --max-epochs 3 --folds-run 0 1     # a reduced setting (recorded in the JSON)

Writes benchmarks/results/cinc2017.json after every run (resumable: runs of the same setting already there are skipped),
"summary": {"model", "f1_naof_cv", "f1_naof_cv_std", "f1_test", "f1": {"N", "A", "O", "~"}, "train_seconds",
"records_per_second"} plus the command, split, seeds, machine and date.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from medrnn.tasks.af_rhythm.config import AfRunConfig
from medrnn.tasks.base import TaskData, get_task
from medrnn.train.run import fit_task

RESULTS = Path(__file__).parent / "results" / "cinc2017.json"
CLASSES = ("N", "A", "O", "~")
PUBLISHED = {  # challenge F1 on the HIDDEN test set (3,658 records): not the test set of this benchmark
    "CRNN, log-spectrogram (Zihlmann et al. 2017)": 0.821,
    "joint winners (Teijeiro, Datta, Zabihi, Hong et al. 2017)": 0.83,
}


def config_for(args: argparse.Namespace, protocol: str, fold: int) -> AfRunConfig:
    """The run config of one cell: the task's default recipe, with the reduced settings the command line asks for."""
    data: dict[str, Any] = {"dataset": args.dataset, "protocol": protocol, "fold": fold, "folds": args.folds}
    if args.max_records:
        data["max_records"] = args.max_records
    train: dict[str, Any] = {"seed": args.seed, "progress": False}
    if args.max_epochs:
        train["max_epochs"] = args.max_epochs
    if args.patience:
        train["patience"] = args.patience
    return AfRunConfig.model_validate({"data": data, "train": train, "bootstrap": 0})


def one_run(task: Any, data: TaskData, config: AfRunConfig) -> dict[str, Any]:
    """Train on the run's train records (epoch chosen on its validation records), score its test records."""
    with tempfile.TemporaryDirectory() as run_dir:
        fitted = fit_task(task, config, run_dir, data=data)
    test = fitted.split.test
    y = task.targets(data, test, fitted.pipeline)
    report = task.evaluate(y, fitted.test_scores, data.units[test], fitted.pipeline, config, task.subset(data, test))
    n_train = len(fitted.split.train)
    epochs = fitted.fit.epochs
    return {"f1_naof": report.overall["f1_naof"], "f1": {c: report.per_label[c]["f1"] for c in CLASSES},
            "macro_f1": report.overall["macro_f1"], "accuracy": report.overall["accuracy"],
            "confusion": report.extras["confusion"], "n_train": n_train, "n_val": len(fitted.split.val), "n_test": len(test),
            "epochs": epochs, "best_epoch": fitted.fit.best_epoch, "train_seconds": fitted.seconds["train_seconds"],
            "records_per_second": n_train * epochs / max(fitted.seconds["train_seconds"], 1e-9),
            "test_inference_ms_per_record": fitted.seconds["inference_ms_per_sample"]}  # fmt: skip


def setting(args: argparse.Namespace) -> dict[str, Any]:
    """What defines the runs (a run of another setting is not reused)."""
    return {"dataset": args.dataset, "max_records": args.max_records, "max_epochs": args.max_epochs or AfRunConfig().train.max_epochs,
            "patience": args.patience or AfRunConfig().train.patience, "folds": args.folds, "seed": args.seed,
            "model": AfRunConfig().model.model_dump()}  # fmt: skip


def summarize(runs: dict[str, dict[str, Any]], folds: int) -> dict[str, Any]:
    cv = [runs[f"cv{k}"] for k in range(folds) if f"cv{k}" in runs]
    fixed = runs.get("split")
    scores = [r["f1_naof"] for r in cv]
    timed = fixed or (cv[0] if cv else None)
    return {
        "model": "lstm CRNN (conv front-end 5x stride 2 -> biLSTM 64 -> attention pooling)",
        "f1_naof_cv": statistics.mean(scores) if scores else None,
        "f1_naof_cv_std": statistics.stdev(scores) if len(scores) > 1 else None,
        "f1_test": fixed["f1_naof"] if fixed else None,
        "f1": {c: statistics.mean(r["f1"][c] for r in cv) if cv else None for c in CLASSES},  # mean over the CV folds run
        "train_seconds": timed["train_seconds"] if timed else None,  # one training run (the fixed split's when run)
        "records_per_second": timed["records_per_second"] if timed else None,  # training records x epochs / train seconds
    }


def save(path: Path, runs: dict[str, dict[str, Any]], args: argparse.Namespace, data_info: dict[str, Any]) -> None:
    results = {
        "summary": summarize(runs, args.folds),
        "folds_run": sorted(k for k in runs if k.startswith("cv")),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "setting": setting(args),
        "split": {
            "cv": f"stratified {args.folds}-fold by record (seed 0), validation 15 % of the training folds, stratified",
            "split": "fixed stratified 70/15/15 by record (seed 0), the artifact's protocol",
        },  # fmt: skip
        "seeds": [args.seed],
        "machine": {
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "platform": platform.platform(),
            "torch": torch.__version__,
            "note": args.machine_note,
        },  # fmt: skip
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "data": data_info,
        "published_hidden_test_set": PUBLISHED,
        "note": "Published figures are on the challenge's hidden test set; these are on held-out training records: a different test set.",
        "runs": runs,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="cinc2017_af")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--folds-run", type=int, nargs="*", default=None, help="which CV folds to run (default: all)")
    parser.add_argument("--no-split", action="store_true", help="skip the fixed-split run (f1_test)")
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--patience", type=int, default=None)
    parser.add_argument("--max-records", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--machine-note", default="", help="what else ran on the machine (timings are wall-clock)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    task = get_task("af_rhythm")
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs = previous.get("runs", {}) if previous.get("setting") == setting(args) else {}
    t0 = time.perf_counter()
    data = task.load(config_for(args, "split", 0))
    data_info = {k: data.info[k] for k in ("folder", "records_used", "classes", "seconds", "read_errors")}
    data_info["read_seconds"] = time.perf_counter() - t0
    cells = [("split", 0)] if not args.no_split else []
    cells += [("cv", k) for k in (args.folds_run if args.folds_run is not None else range(args.folds))]
    for protocol, fold in cells:
        key = "split" if protocol == "split" else f"cv{fold}"
        if key in runs:
            continue
        runs[key] = {**one_run(task, data, config_for(args, protocol, fold)), "load_average_after": list(os.getloadavg())}
        r = runs[key]
        print(f"{key}: challenge F1 {r['f1_naof']:.3f}  F1 N/A/O/~ " + " ".join(f"{r['f1'][c]:.3f}" for c in CLASSES)
              + f"  {r['epochs']} epochs, {r['train_seconds']:.0f} s", flush=True)  # fmt: skip
        save(args.out, runs, args, data_info)
    save(args.out, runs, args, data_info)
    print(json.dumps(summarize(runs, args.folds), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
