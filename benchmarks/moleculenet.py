"""MoleculeNet benchmark: medrnn's SMILES RNN vs chemprop's D-MPNN (CLI defaults) vs a random forest on ECFP4.

Every (dataset, split, seed) split is computed once and handed to every model, so they see identical indices; each
model is scored by the same `medrnn.metrics.outputs.headline_score`. medrnn (`fit_task('molecules')`) runs in two recipes, `medrnn` (the
`medrnn train smiles` defaults) and `medrnn_lm` (encoder pretrained first as a SMILES language model on the other
datasets' molecules); benchmarks/moleculenet_ensemble.py adds their mean as a third candidate afterwards, and
summary "medrnn" takes, per split, the candidate with the lowest validation loss (moleculenet_results.py).

Run from the repository root:
    python benchmarks/moleculenet.py                          # everything (hours on 2 cores; resumable)
    python benchmarks/moleculenet.py --datasets esol --models rf chemprop --seeds 0
    python benchmarks/moleculenet.py --backfill-val                 # best_val for runs recorded before it was kept
Writes benchmarks/results/moleculenet.json after every finished run; runs already there are skipped (--force re-runs).
Then `python benchmarks/moleculenet_ensemble.py` (no training) scores the ensemble of the two recipes.
Render the tables for docs/benchmarks.md with benchmarks/render_moleculenet.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the baselines module beside this file

from moleculenet_baselines import run_chemprop, run_random_forest  # noqa: E402
from moleculenet_results import (  # noqa: E402
    EXTRA_SPLITS,
    MODELS,
    RECIPE_OVERRIDES,
    RECIPES,
    RESULTS,
    SPLIT_SIZES,
    WORKDIR,
    finite,
    load_results,
    medrnn_config,
    run_key,
    save_results,
)  # fmt: skip

from medrnn import paths  # noqa: E402
from medrnn.data.splits import SPLITS, Split, make_split  # noqa: E402
from medrnn.errors import MedrnnError  # noqa: E402
from medrnn.io.smiles import ReadReport, read_smiles_csv  # noqa: E402
from medrnn.metrics.outputs import headline_score  # noqa: E402
from medrnn.records import MoleculeTable  # noqa: E402
from medrnn.tasks.base import TaskData  # noqa: E402
from medrnn.tasks.molecules.spec import MOLECULENET  # noqa: E402


def run_medrnn(data: TaskData, split: Split, dataset: str, split_kind: str, seed: int, run_dir: Path, threads: int,
               recipe: str = "medrnn", model_seed: int | None = None) -> dict[str, Any]:  # fmt: skip
    """medrnn's SMILES RNN in one recipe (moleculenet_results.RECIPE_OVERRIDES: the CLI's defaults, the encoder first
    pretrained as a SMILES language model on the other datasets' molecules, ...) through `fit_task`; validation picks the
    epoch. `split` is the benchmark's, which the task's own split must reproduce. `val_loss_tta` is the validation loss
    of the final (test-time-averaged) validation predictions."""
    import torch

    from medrnn.train.run import fit_task

    torch.set_num_threads(threads)
    config = medrnn_config(recipe, dataset, split_kind, seed, model_seed)
    fit = fit_task("molecules", config, run_dir, data=data)
    if not all(np.array_equal(a, b) for a, b in zip(fit.split, split)):
        raise RuntimeError(f"the molecules task split {dataset}/{split_kind} seed {seed} differently from the benchmark")
    y_val = fit.task.targets(fit.data, split.val, fit.pipeline)
    return {"test_score": fit.test_scores.values, "train_seconds": fit.fit.seconds, "epochs": fit.fit.epochs,
            "seconds_per_epoch": fit.fit.seconds / max(fit.fit.epochs, 1), "best_epoch": fit.fit.best_epoch,
            "pretrain": fit.model_init["pretrain"], "best_val": fit.fit.best_score,
            "val_loss_tta": fit.task.validation_loss(y_val, fit.val_scores, fit.pipeline)}  # fmt: skip


def task_data(name: str, split_kind: str) -> TaskData:
    """The molecules task's samples of a MoleculeNet dataset for one split kind (units: scaffolds or rows), read once."""
    from medrnn.tasks.base import get_task

    key = (name, split_kind)
    if key not in _TASK_DATA:
        _TASK_DATA[key] = get_task("molecules").load(medrnn_config("medrnn", name, split_kind, 0))
    return _TASK_DATA[key]


_TASK_DATA: dict[tuple[str, str], TaskData] = {}


def run_model(model: str, name: str, split_kind: str, table: MoleculeTable, split: Split, task_type: str, seed: int, run_dir: Path,
              threads: int) -> dict[str, Any]:  # fmt: skip
    if model in RECIPE_OVERRIDES:
        return run_medrnn(task_data(name, split_kind), split, name, split_kind, seed, run_dir, threads, recipe=model)
    if model == "rf":
        return run_random_forest(table, split, task_type, seed, n_jobs=threads)
    return run_chemprop(table, split, task_type, seed, run_dir, threads)


# ----------------------------------------------------------------------------------------------- results file


def _version(package: str) -> str:
    """An installed package's version, or "not installed" (medrnn's own runs need no chemprop)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def machine_info(threads: int) -> dict[str, Any]:
    """Hardware and library versions, so timings can be read in context."""
    import rdkit
    import sklearn
    import torch

    import medrnn

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_count": os.cpu_count(), "cpus_usable": affinity, "threads": threads, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
            "medrnn": medrnn.__version__, "torch": torch.__version__, "chemprop": _version("chemprop"),
            "rdkit": rdkit.__version__, "sklearn": sklearn.__version__, "numpy": np.__version__}  # fmt: skip


def data_info(name: str, report: ReadReport, n_tasks: int) -> dict[str, Any]:
    spec = MOLECULENET[name]
    return {"file": spec.file, "n_read": report.n_read, "n_kept": report.n_kept, "n_rejected": len(report.rejected),
            "rejected_rows": [r.row for r in report.rejected],
            "rejected": [{"row": r.row, "reason": r.reason} for r in report.rejected],
            "n_tasks": n_tasks, "n_missing_labels": report.n_missing_labels, "n_unlabelled_rows": report.n_unlabelled_rows,
            "task_type": spec.task_type, "recommended_split": spec.split, "summary": report.summary()}  # fmt: skip


# ----------------------------------------------------------------------------------------------- driver


def plan_splits(name: str, requested: list[str] | None) -> list[str]:
    """Splits to run for a dataset: the recommended one (+ EXTRA_SPLITS), or those requested ('recommended' resolves)."""
    rec = MOLECULENET[name].split
    wanted = [rec, *([EXTRA_SPLITS[name]] if name in EXTRA_SPLITS else [])] if not requested else \
        [rec if s == "recommended" else s for s in requested]  # fmt: skip
    return list(dict.fromkeys(wanted))


def split_hash(split: Split) -> str:
    """Short digest of the indices, so runs made in separate pieces can be checked to share one split."""
    text = json.dumps(split.to_dict(), separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def new_record(name: str, split_kind: str, model: str, seed: int, split: Split, threads: int) -> dict[str, Any]:
    """An empty run record: every script that writes runs into the results file starts from this one shape."""
    return {"dataset": name, "split": split_kind, "model": model, "seed": seed, "metric": MOLECULENET[name].metric,
            "score": None, "train_seconds": None, "epochs": None, "seconds_per_epoch": None, "best_epoch": None,
            "wall_seconds": None, "n_train": len(split.train), "n_val": len(split.val), "n_test": len(split.test),
            "split_hash": split_hash(split), "threads": threads, "date": None, "error": None}  # fmt: skip


def one_run(
    name: str, split_kind: str, model: str, seed: int, table: MoleculeTable, split: Split, run_dir: Path, threads: int
) -> dict[str, Any]:
    """Fit, score and describe one (dataset, split, model, seed); failures become the record's `error`."""
    spec = MOLECULENET[name]
    record = new_record(name, split_kind, model, seed, split, threads)
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a stale folder from an interrupted run must not feed this one
    run_dir.mkdir(parents=True)
    start = time.perf_counter()
    try:
        out = run_model(model, name, split_kind, table, split, spec.task_type, seed, run_dir, threads)
        score = np.asarray(out["test_score"], dtype=np.float64)
        y_true = table.targets[split.test]
        if score.shape != y_true.shape:
            raise RuntimeError(f"{model} returned test scores of shape {score.shape}, expected {y_true.shape} (n_test, n_tasks)")
        np.savez(run_dir / "test_predictions.npz", test=split.test, y_true=y_true, y_score=score)
        record["score"] = finite(headline_score(y_true, score, spec.task_type))
        for field in ("train_seconds", "epochs", "seconds_per_epoch", "best_epoch", "pretrain", "best_val", "val_loss_tta"):
            record[field] = out.get(field)
    except Exception as err:  # noqa: BLE001  one failed run is recorded and the benchmark goes on with the others
        traceback.print_exc()
        record["error"] = f"{type(err).__name__}: {err}"
    record["wall_seconds"] = time.perf_counter() - start
    record["date"] = datetime.now().isoformat(timespec="seconds")
    return record


def best_val_from_logs(run_dir: Path) -> float | None:
    """The lowest validation loss in a medrnn run's Lightning CSV log (= fit.best_val: the epoch kept monitors val_loss),
    for runs recorded before best_val was; None when the log is gone."""
    import csv

    logs = sorted(run_dir.glob("logs/version_*/metrics.csv"))
    if not logs:
        return None
    with logs[-1].open() as fh:
        losses = [float(row["val_loss"]) for row in csv.DictReader(fh) if row.get("val_loss")]
    return min(losses) if losses else None


def backfill_best_val(path: Path, workdir: Path) -> int:
    """Add best_val from the kept logs to finished medrnn runs that lack it; returns how many were filled."""
    results = load_results(path)
    filled = []
    for run in results.get("runs", []):
        if run["model"] in RECIPES and run.get("error") is None and run.get("best_val") is None:
            value = best_val_from_logs(workdir / f"{run['dataset']}-{run['split']}-seed{run['seed']}" / run["model"])
            if value is not None:
                filled.append({**run, "best_val": value, "best_val_from": "lightning log"})
    if filled:
        save_results(path, filled, {}, results.get("machine") or {})
    return len(filled)


def progress_line(run: dict[str, Any]) -> str:
    """'rmse 1.3026  (train 37.5 s, wall 43.8 s)', or the failure."""
    if run["error"]:
        shown = f"FAILED ({run['error'].splitlines()[0]})"
    else:
        shown = f"{run['metric']} {run['score']:.4f}" if run["score"] is not None else f"{run['metric']} undefined"
    train = f"{run['train_seconds']:.1f}" if run["train_seconds"] is not None else "-"
    return f"{shown}  (train {train} s, wall {run['wall_seconds']:.1f} s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " Resumable: each finished run is written at once; finished runs are skipped.",
        epilog="Default plan: each dataset's MoleculeNet split (scaffold: bbbp, bace, hiv; random: the rest), plus bbbp "
               "random and tox21 scaffold; seeds 0 1 2 (a seed picks the split and the models' seeds).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--datasets", nargs="+", choices=list(MOLECULENET), default=list(MOLECULENET), metavar="NAME",
                        help=f"datasets to run, from: {' '.join(MOLECULENET)}")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds; each gives a different split")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="models to run")
    parser.add_argument("--splits", nargs="+", choices=[*SPLITS, "recommended"], default=None,
                        help="splits for every dataset ('recommended' = MoleculeNet's); default: the plan in the epilog")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per model (torch, chemprop, forest n_jobs)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON (read, merged and rewritten)")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=WORKDIR,
        help="scratch folder for model runs (checkpoints, chemprop logs, test predictions)",
    )
    parser.add_argument("--force", action="store_true", help="re-run runs already in --out (failed runs are always re-run)")
    parser.add_argument("--backfill-val", action="store_true",
                        help="no training: add best_val (from --workdir's logs) to medrnn runs recorded without it")
    args = parser.parse_args(argv)
    if args.backfill_val:
        print(f"best_val added to {backfill_best_val(args.out, args.workdir)} run(s)")
        return 0
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")

    done = {run_key(r) for r in load_results(args.out).get("runs", []) if r.get("error") is None}
    plan = [(name, kind, seed, model) for name in args.datasets for kind in plan_splits(name, args.splits)
            for seed in args.seeds for model in args.models]  # fmt: skip
    todo = [p for p in plan if args.force or (p[0], p[1], p[3], p[2]) not in done]
    print(f"{len(plan)} runs planned, {len(plan) - len(todo)} already in {args.out}, {len(todo)} to run", flush=True)
    machine = machine_info(args.threads)
    tables: dict[str, tuple[MoleculeTable, dict[str, Any]]] = {}
    splits: dict[tuple[str, str, int], Split] = {}
    unreadable: dict[str, str] = {}
    n_failed = 0
    for i, (name, kind, seed, model) in enumerate(todo, 1):
        spec = MOLECULENET[name]
        if name not in tables and name not in unreadable:
            try:
                table, report = read_smiles_csv(paths.data_root() / spec.file, spec.targets, spec.smiles_column)
            except MedrnnError as err:
                unreadable[name] = str(err)
                print(f"  {name}: skipped, {err} (data root {paths.data_root()}; set MEDRNN_DATA or run "
                      "`medrnn data fetch moleculenet`)", flush=True)  # fmt: skip
                continue
            tables[name] = (table, data_info(name, report, len(spec.targets)))
            print(f"  {report.summary()}", flush=True)
        if name in unreadable:
            continue
        table, info = tables[name]
        if (name, kind, seed) not in splits:
            splits[(name, kind, seed)] = make_split(kind, table.smiles, SPLIT_SIZES, seed)
        split = splits[(name, kind, seed)]
        run = one_run(name, kind, model, seed, table, split, args.workdir / f"{name}-{kind}-seed{seed}" / model, args.threads)
        save_results(args.out, [run], {name: info}, machine)
        print(f"[{i}/{len(todo)}] {name}/{kind} {model} seed {seed}: {progress_line(run)}", flush=True)
        n_failed += run["error"] is not None
    if not todo and args.out.exists():
        save_results(args.out, [], {}, load_results(args.out).get("machine") or machine)  # refresh the summary only
    if n_failed or unreadable:
        print(f"{n_failed} run(s) failed (errors recorded in {args.out}); unreadable datasets: {', '.join(unreadable) or 'none'}")
    return 1 if n_failed or unreadable else 0


if __name__ == "__main__":
    raise SystemExit(main())
