"""MoleculeNet seed-ensembling lever: the mean of K trainings of medrnn's LM-pretrained recipe on the identical split.

A deep ensemble (Lakshminarayanan et al. 2017): members differ only in their model seed (initialisation, batch order,
SMILES enumeration); the split, the cached language model and the recipe are the same. Member 0 is the `medrnn_lm` run
benchmarks/moleculenet.py recorded; members 1..K-1 are trained here with model seed `seed + 100 k` (resumable: a member
whose folder holds its predictions is not retrained). Every member, the recorded one included, is rebuilt from its
checkpoint and must reproduce its recorded test predictions; the ensemble averages probabilities (classification) or
predictions in target units (regression) and gets `val_loss_tta` like the other candidates, so validation can choose it.
Its train_seconds is the sum over members: it costs K trainings.

Run from the repository root, after benchmarks/moleculenet.py (and moleculenet_ensemble.py, so all candidates compare
on val_loss_tta):
    python benchmarks/moleculenet_seed_ensemble.py --datasets bace lipophilicity --members 3 --threads 1
Writes model "medrnn_lm_seeds" runs into benchmarks/results/moleculenet.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from moleculenet import new_record, run_medrnn, split_hash, task_data  # noqa: E402
from moleculenet_ensemble import member_scores  # noqa: E402
from moleculenet_results import (  # noqa: E402
    RESULTS,
    SEED_ENSEMBLE,
    SPLIT_SIZES,
    WORKDIR,
    finite,
    load_results,
    save_results,
    validation_loss,
)  # fmt: skip

from medrnn import paths  # noqa: E402
from medrnn.data.splits import Split, make_split  # noqa: E402
from medrnn.io.smiles import read_smiles_csv  # noqa: E402
from medrnn.metrics.outputs import headline_score  # noqa: E402
from medrnn.records import MoleculeTable  # noqa: E402
from medrnn.tasks.molecules.spec import MOLECULENET  # noqa: E402

RECIPE = "medrnn_lm"
SEED_STEP = 100  # member k trains with model seed `seed + SEED_STEP * k`: never another split's seed (0, 1, 2)


def train_member(table: MoleculeTable, split: Split, task_type: str, name: str, kind: str, seed: int, member_seed: int, run_dir: Path,
                 threads: int) -> dict[str, Any]:  # fmt: skip
    """Train one extra member (or reuse a finished one) and record its test predictions beside its checkpoint."""
    meta = run_dir / "member.json"
    if meta.exists() and (run_dir / "test_predictions.npz").exists():
        return json.loads(meta.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    out = run_medrnn(task_data(name, kind), split, name, kind, seed, run_dir, threads, recipe=RECIPE, model_seed=member_seed)
    y_true = table.targets[split.test]
    np.savez(run_dir / "test_predictions.npz", test=split.test, y_true=y_true, y_score=np.asarray(out["test_score"], dtype=np.float64))
    info = {"model": RECIPE, "seed": member_seed, "score": finite(headline_score(y_true, out["test_score"], task_type)),
            "train_seconds": out["train_seconds"], "epochs": out["epochs"], "best_val": out["best_val"]}  # fmt: skip
    meta.write_text(json.dumps(info, indent=1))
    return info


def seed_ensemble(name: str, kind: str, seed: int, lm_run: dict[str, Any], table: MoleculeTable, workdir: Path, n_members: int,
                  threads: int) -> dict[str, Any]:  # fmt: skip
    """The seed ensemble's run record for one split (failures become its `error`)."""
    spec = MOLECULENET[name]
    split = make_split(kind, table.smiles, SPLIT_SIZES, seed)
    folder = workdir / f"{name}-{kind}-seed{seed}"
    record = new_record(name, kind, SEED_ENSEMBLE, seed, split, threads)
    start = time.perf_counter()
    try:
        if lm_run.get("split_hash") != split_hash(split):
            raise RuntimeError(f"split hash {lm_run.get('split_hash')} recorded by {RECIPE}, {split_hash(split)} rebuilt here")
        members = [{"model": RECIPE, "seed": seed, "score": lm_run["score"], "train_seconds": lm_run["train_seconds"],
                    "epochs": lm_run["epochs"], "best_val": lm_run.get("best_val"), "dir": folder / RECIPE}]  # fmt: skip
        for k in range(1, n_members):
            member_dir = folder / f"{RECIPE}-seed{seed + SEED_STEP * k}"
            info = train_member(table, split, spec.task_type, name, kind, seed, seed + SEED_STEP * k, member_dir, threads)
            members.append({**info, "dir": member_dir})
            print(f"  {name}/{kind} seed {seed} member {k} (model seed {info['seed']}): {spec.metric} {info['score']:.4f}", flush=True)
        scores = [member_scores(table, split, spec, {"model": RECIPE, "seed": m["seed"]}, m["dir"], name, kind, seed) for m in members]
        scaler = scores[0]["scaler"]
        y_val, y_test = table.targets[split.val], table.targets[split.test]
        for m, s in zip(members, scores, strict=True):
            m["val_loss_tta"] = validation_loss(y_val, s["val"], spec.task_type, scaler)
            m["reproduced_max_abs_diff"] = s["reproduced_max_abs_diff"]
            m["dir"] = str(m["dir"])
        val = np.mean([s["val"] for s in scores], axis=0)
        test = np.mean([s["test"] for s in scores], axis=0)
        record["val_loss_tta"] = record["best_val"] = validation_loss(y_val, val, spec.task_type, scaler)
        record["score"] = finite(headline_score(y_test, test, spec.task_type))
        record["train_seconds"] = sum(m["train_seconds"] for m in members)
        record["members"] = members
        (folder / SEED_ENSEMBLE).mkdir(parents=True, exist_ok=True)
        np.savez(folder / SEED_ENSEMBLE / "test_predictions.npz", test=split.test, y_true=y_test, y_score=test)
    except Exception as err:  # noqa: BLE001  a split that cannot be built is recorded; the others go on
        record["error"] = f"{type(err).__name__}: {err}"
    record["wall_seconds"] = time.perf_counter() - start
    record["date"] = datetime.now().isoformat(timespec="seconds")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--datasets", nargs="+", choices=list(MOLECULENET), default=["bace", "lipophilicity"], metavar="NAME")
    parser.add_argument("--members", type=int, default=3, help="ensemble size K, the recorded medrnn_lm run included")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="split seeds (as in moleculenet.py)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON of benchmarks/moleculenet.py (read and updated)")
    parser.add_argument("--workdir", type=Path, default=WORKDIR,
                        help="moleculenet.py's --workdir: the recorded runs' folders; extra members are trained beside them")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per training")
    parser.add_argument("--force", action="store_true", help="redo splits whose seed ensemble is already recorded")
    args = parser.parse_args(argv)
    if args.members < 2:
        parser.error(f"--members must be at least 2, got {args.members}")
    import torch

    torch.set_num_threads(args.threads)
    results = load_results(args.out)
    runs = {(r["dataset"], r["split"], int(r["seed"]), r["model"]): r for r in results.get("runs", []) if r.get("error") is None}
    wanted = [(name, MOLECULENET[name].split, seed) for name in args.datasets for seed in args.seeds]
    missing = [key for key in wanted if (*key, RECIPE) not in runs]
    todo = [key for key in wanted if key not in missing and (args.force or (*key, SEED_ENSEMBLE) not in runs)]
    print(f"{len(todo)} split(s) to ensemble ({args.members} members each)", flush=True)
    for name, kind, seed in missing:  # member 0 is the recorded run: without it there is nothing to ensemble
        print(f"  {name}/{kind} seed {seed}: skipped, no finished {RECIPE} run in {args.out} "
              f"(run `python benchmarks/moleculenet.py --datasets {name} --models {RECIPE} --seeds {seed}` first)", flush=True)
    n_failed = 0
    tables: dict[str, MoleculeTable] = {}
    for name, kind, seed in todo:
        spec = MOLECULENET[name]
        if name not in tables:
            tables[name] = read_smiles_csv(paths.data_root() / spec.file, spec.targets, spec.smiles_column)[0]
        record = seed_ensemble(name, kind, seed, runs[(name, kind, seed, RECIPE)], tables[name], args.workdir, args.members, args.threads)
        save_results(args.out, [record], {}, results.get("machine") or {})
        shown = f"FAILED ({record['error']})" if record["error"] else (
            f"{record['metric']} {record['score']:.4f} (members " + ", ".join(f"{m['score']:.4f}" for m in record["members"])
            + f"), val loss {record['val_loss_tta']:.4f}")  # fmt: skip
        print(f"{name}/{kind} seed {seed}: {shown}  ({record['wall_seconds']:.0f} s)", flush=True)
        n_failed += record["error"] is not None
    return 1 if n_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
