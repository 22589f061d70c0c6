"""What SMILES enumeration buys: training on random SMILES (augment) and test-time averaging (TTA), measured.

For each dataset and seed (its MoleculeNet split), medrnn is trained twice on the identical split: on
canonical SMILES only (augment 0) and on a new random SMILES per molecule per epoch (augment 1). Each
trained model is scored on test with canonical SMILES only (tta 0) and averaged over 8 random SMILES
(tta 8), so the table separates the two levers. Scores use medrnn.metrics.outputs.headline_score.

    python benchmarks/smiles_levers.py                               # bbbp bace esol freesolv x seeds 0 1 2
    python benchmarks/smiles_levers.py --datasets esol --seeds 0     # one cell

Writes benchmarks/results/smiles_levers.json (resumable: finished runs are kept and skipped).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from medrnn.metrics.outputs import headline_score
from medrnn.tasks.molecules.config import SmilesRunConfig
from medrnn.tasks.molecules.spec import MOLECULENET
from medrnn.train.run import fit_task

RESULTS = Path(__file__).parent / "results" / "smiles_levers.json"
TTA = 8


def one(name: str, seed: int, augment: int, workdir: Path) -> dict[str, Any]:
    spec = MOLECULENET[name]
    cfg = SmilesRunConfig.model_validate({"data": {"data": name, "augment": augment, "tta": 0}, "train": {"seed": seed}})
    fit = fit_task("molecules", cfg, workdir / f"{name}-{seed}-aug{augment}")
    task, test = fit.task, fit.task.subset(fit.data, fit.split.test)
    y = task.targets(fit.data, fit.split.test, fit.pipeline)
    out = {"dataset": name, "split": spec.split, "seed": seed, "augment": augment, "metric": spec.metric,
           "epochs": fit.fit.epochs, "best_epoch": fit.fit.best_epoch, "train_seconds": fit.fit.seconds}  # fmt: skip
    out["score_tta0"] = headline_score(y, fit.test_scores.values, spec.task_type)
    t0 = time.perf_counter()
    averaged = copy.copy(fit.pipeline)
    averaged.tta = TTA  # the same model scored with TTA random SMILES (seeded by the run's seed)
    out[f"score_tta{TTA}"] = headline_score(y, task.predict(fit.model, averaged, test).values, spec.task_type)
    out[f"tta{TTA}_seconds"] = time.perf_counter() - t0
    out["date"] = datetime.now().isoformat(timespec="seconds")
    return out


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dataset: mean score over the seeds that have both runs (augment 0 and 1), for each (augment, tta) cell."""
    summary: dict[str, Any] = {}
    for name in sorted({r["dataset"] for r in runs}):
        by_seed = {(r["seed"], r["augment"]): r for r in runs if r["dataset"] == name}
        seeds = sorted(s for s in {s for s, _ in by_seed} if (s, 0) in by_seed and (s, 1) in by_seed)  # paired only
        cells = {}
        for augment in (0, 1):
            for tta in (0, TTA):
                scores = [by_seed[(s, augment)][f"score_tta{tta}"] for s in seeds]
                cells[f"augment{augment}_tta{tta}"] = statistics.fmean(scores) if scores else None
        summary[name] = {"metric": MOLECULENET[name].metric, **cells, "seeds": seeds}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bbbp", "bace", "esol", "freesolv"], choices=sorted(MOLECULENET))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "medrnn" / "bench" / "levers")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    recipe = SmilesRunConfig().model_dump(mode="json")
    if results["runs"] and results.get("recipe") != recipe:
        raise SystemExit(f"{args.out} holds runs made with other medrnn defaults (see its recipe_note); "
                         "resuming would mix recipes: pass --out NEW.json or move the file away")  # fmt: skip
    done = {(r["dataset"], r["seed"], r["augment"]) for r in results["runs"]}
    for seed in args.seeds:
        for name in args.datasets:
            for augment in (0, 1):
                if (name, seed, augment) in done:
                    continue
                run = one(name, seed, augment, args.workdir)
                print(f"{name} seed {seed} augment {augment}: tta0 {run['score_tta0']:.4f}  tta{TTA} {run[f'score_tta{TTA}']:.4f}  "
                      f"({run['train_seconds']:.0f} s, {run['epochs']} epochs)", flush=True)  # fmt: skip
                results["runs"].append(run)
                results["summary"] = summarize(results["runs"])
                results["machine"] = {"threads": torch.get_num_threads(), "torch": torch.__version__}
                results["recipe"] = recipe  # the defaults these runs used
                args.out.parent.mkdir(parents=True, exist_ok=True)
                tmp = args.out.with_suffix(".tmp")
                tmp.write_text(json.dumps(results, indent=1))
                tmp.replace(args.out)


if __name__ == "__main__":
    main()
