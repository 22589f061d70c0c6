"""MoleculeNet ensembling lever: the mean of medrnn's two recipes (plain, LM-pretrained) on the identical split.

No training: for each (dataset, split, seed) where benchmarks/moleculenet.py finished both recipes, each member is rebuilt
from its run folder (`prepare_smiles_model` + checkpoints/best.safetensors). A rebuilt member must reproduce the test
predictions its run recorded, else that split is recorded as failed. Each member then scores validation with the same
test-time augmentation. The ensemble averages probabilities (classification) or predictions in target units (regression).
Every candidate gets `val_loss_tta`, the validation loss of its averaged predictions (masked BCE, or MSE in standardised
units: the training loss). The summary then takes, per split, the candidate with the lowest (test never chooses).

Run from the repository root, after benchmarks/moleculenet.py:
    python benchmarks/moleculenet_ensemble.py                   # every dataset whose two recipes finished
    python benchmarks/moleculenet_ensemble.py --datasets bace lipophilicity
Writes model "medrnn_ens" runs into benchmarks/results/moleculenet.json, and val_loss_tta onto the members' runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from moleculenet import new_record, split_hash, task_data  # noqa: E402
from moleculenet_results import (  # noqa: E402
    ENSEMBLE,
    RECIPES,
    RESULTS,
    SPLIT_SIZES,
    WORKDIR,
    finite,
    load_results,
    medrnn_config,
    save_results,
    validation_loss,
)  # fmt: skip

from medrnn import paths  # noqa: E402
from medrnn.data.splits import Split, make_split  # noqa: E402
from medrnn.io.smiles import read_smiles_csv  # noqa: E402
from medrnn.metrics.outputs import headline_score  # noqa: E402
from medrnn.records import MoleculeTable  # noqa: E402
from medrnn.tasks.molecules.spec import MOLECULENET  # noqa: E402
from medrnn.tasks.molecules.task import MoleculesTask, rebuild_from_checkpoint  # noqa: E402

# a rebuilt member whose test predictions differ by more than this from its run's is not the model that run trained
REPRODUCE_ATOL = 1e-4


def member_scores(table: MoleculeTable, split: Split, spec: Any, run: dict[str, Any], run_dir: Path, name: str = "",
                  kind: str = "", split_seed: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Rebuild one recipe's trained model; its validation and test scores (same TTA as training used) and the scaler.

    `run["seed"]` is the member's model seed; the split is drawn with `split_seed` (default: the same seed)."""
    seed = int(run["seed"])
    config = medrnn_config(run["model"], name or spec.name, kind or spec.split, seed if split_seed is None else split_seed, seed)
    data = task_data(config.data.data, config.data.split)
    model, pipeline = rebuild_from_checkpoint(data, split, config, run_dir / "checkpoints" / "best.safetensors")
    task = MoleculesTask()
    scored = {part: task.predict(model, pipeline, task.subset(data, getattr(split, part))).values for part in ("val", "test")}
    recorded = np.load(run_dir / "test_predictions.npz")
    if not np.array_equal(recorded["test"], split.test):
        raise RuntimeError(f"{run_dir}/test_predictions.npz: its test rows are not this split's")
    gap = float(np.max(np.abs(recorded["y_score"] - scored["test"])))
    if gap > REPRODUCE_ATOL:
        raise RuntimeError(f"{run_dir}: rebuilt model's test predictions differ from the run's by up to {gap:.2e} (> {REPRODUCE_ATOL})")
    return {**scored, "scaler": pipeline.scaler, "reproduced_max_abs_diff": gap}


def ensemble_split(name: str, kind: str, seed: int, members: dict[str, dict[str, Any]], table: MoleculeTable, workdir: Path,
                   threads: int) -> list[dict[str, Any]]:  # fmt: skip
    """The ensemble's run record for one split, plus its members' records with val_loss_tta added."""
    spec = MOLECULENET[name]
    split = make_split(kind, table.smiles, SPLIT_SIZES, seed)
    recorded = {run.get("split_hash") for run in members.values()}
    record = {**new_record(name, kind, ENSEMBLE, seed, split, threads), "members": list(members)}
    start = time.perf_counter()
    updated = []
    try:
        if recorded != {split_hash(split)}:
            raise RuntimeError(f"split hashes {sorted(map(str, recorded))} recorded by the members, {split_hash(split)} rebuilt here")
        scores = {m: member_scores(table, split, spec, run, workdir / f"{name}-{kind}-seed{seed}" / m, name, kind)
                  for m, run in members.items()}
        scaler = scores[RECIPES[0]]["scaler"]
        y_val, y_test = table.targets[split.val], table.targets[split.test]
        for m, run in members.items():
            loss = validation_loss(y_val, scores[m]["val"], spec.task_type, scaler)
            updated.append({**run, "val_loss_tta": loss, "reproduced_max_abs_diff": scores[m]["reproduced_max_abs_diff"]})
        val = np.mean([scores[m]["val"] for m in members], axis=0)
        test = np.mean([scores[m]["test"] for m in members], axis=0)
        record["val_loss_tta"] = record["best_val"] = validation_loss(y_val, val, spec.task_type, scaler)
        record["score"] = finite(headline_score(y_test, test, spec.task_type))
        record["train_seconds"] = sum(run["train_seconds"] for run in members.values())
        ens_dir = workdir / f"{name}-{kind}-seed{seed}" / ENSEMBLE
        ens_dir.mkdir(parents=True, exist_ok=True)
        np.savez(ens_dir / "test_predictions.npz", test=split.test, y_true=y_test, y_score=test)
    except Exception as err:  # noqa: BLE001  a split that cannot be rebuilt is recorded; the others go on
        record["error"] = f"{type(err).__name__}: {err}"
    record["wall_seconds"] = time.perf_counter() - start
    record["date"] = datetime.now().isoformat(timespec="seconds")
    return [record, *updated]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--datasets", nargs="+", choices=list(MOLECULENET), default=list(MOLECULENET), metavar="NAME")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON of benchmarks/moleculenet.py (read and updated)")
    parser.add_argument("--workdir", type=Path, default=WORKDIR,
                        help="moleculenet.py's --workdir: the members' run folders (checkpoints, test predictions)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for inference")
    parser.add_argument("--force", action="store_true", help="redo splits whose ensemble is already recorded")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = load_results(args.out)
    finished: dict[tuple[str, str, int], dict[str, dict[str, Any]]] = {}
    for run in results.get("runs", []):
        if run["model"] in (*RECIPES, ENSEMBLE) and run.get("error") is None and run["dataset"] in args.datasets:
            finished.setdefault((run["dataset"], run["split"], int(run["seed"])), {})[run["model"]] = run
    todo = [(k, v) for k, v in sorted(finished.items()) if all(m in v for m in RECIPES) and (args.force or ENSEMBLE not in v)]
    print(f"{len(todo)} split(s) to ensemble", flush=True)
    tables: dict[str, MoleculeTable] = {}
    n_failed = 0
    for (name, kind, seed), runs in todo:
        spec = MOLECULENET[name]
        if name not in tables:
            tables[name] = read_smiles_csv(paths.data_root() / spec.file, spec.targets, spec.smiles_column)[0]
        records = ensemble_split(name, kind, seed, {m: runs[m] for m in RECIPES}, tables[name], args.workdir, args.threads)
        save_results(args.out, records, {}, results.get("machine") or {})
        ens = records[0]
        shown = f"FAILED ({ens['error']})" if ens["error"] else f"{ens['metric']} {ens['score']:.4f}, val loss " + ", ".join(
            f"{r['model']} {r['val_loss_tta']:.4f}" for r in [*records[1:], ens])  # fmt: skip
        print(f"{name}/{kind} seed {seed}: {shown}  ({ens['wall_seconds']:.0f} s)", flush=True)
        n_failed += ens["error"] is not None
    return 1 if n_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
