"""Faithfulness and cost of explain() on every registered task: deletion/insertion against random orderings, the
model-randomisation sanity check, and seconds per explained item, for each attribution method.

Each task's model is its default recipe (headline architecture and data) trained for `--max-epochs` epochs (3 by
default: the attributions of a briefly trained model, stated in the JSON), exactly as

    medrnn train TASK --max-epochs 3 --out RUNS/TASK

A user reproduces a task's figures on inputs of their own with `medrnn explain --artifact RUNS/TASK/model INPUT...
--method ig --check` (the same measures, summarised in OUT/index.json).

    python benchmarks/explain.py                          # every task, 12 test samples each
    python benchmarks/explain.py --tasks molecules --samples 30

Writes benchmarks/results/explain.json after every task, "summary" keyed by task:
{"deletion_auc": {method: x, "random": y}, "sanity_rank_corr": {method: r}} (lower deletion area than random is
better; a low rank correlation with the randomised model is better), the rest under "tasks".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medrnn.errors import ConfigError
from medrnn.explain.api import explain_inputs
from medrnn.explain.methods import METHODS
from medrnn.paths import cache_dir
from medrnn.predict import Predictor
from medrnn.tasks.base import get_task, task_names
from medrnn.train.run import is_complete, run_task

RESULTS = Path(__file__).parent / "results" / "explain.json"
TARGET_SECONDS = 2.0  # explain() of one item on 2 CPU cores, headline model (the target)


def trained_run(task: Any, runs: Path, max_epochs: int) -> tuple[Path, Any]:
    """The task's default recipe trained for `max_epochs` (reused when a finished run of that config is there)."""
    config = task.config_class.model_validate({"train": {"max_epochs": max_epochs, "progress": False}, "bootstrap": 0})
    run_dir = runs / task.name
    if not is_complete(run_dir):
        run_task(task, config, run_dir, progress=False, overwrite=run_dir.exists())
    return run_dir, config


def test_samples(task: Any, config: Any, n: int, seed: int) -> Any:
    """`n` test samples of the run's own split, drawn at random (seeded)."""
    data = task.load(config)
    split = task.split(data, config)
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(split.test, size=min(n, len(split.test)), replace=False))
    return task.subset(data, index)


def measure(task: Any, predictor: Any, samples: Any, method: str) -> dict[str, Any]:
    """Per-sample faithfulness and seconds of one method; {"applies": False, "why"} where it does not apply."""
    model, pipeline = predictor.model, predictor.pipeline
    try:
        explanations = explain_inputs([(model, pipeline)], task, [samples], task.name, method, max_samples=len(samples), check=True)
    except ConfigError as err:
        return {"applies": False, "why": str(err)}
    f = [e.faithfulness for e in explanations]
    keys = f[0].keys()
    seconds = [e.seconds for e in explanations]
    return {"applies": True, "n": len(f), **{k: float(np.mean([x[k] for x in f])) for k in keys},
            "deletion_beats_random_share": float(np.mean([x["deletion_auc"] < x["deletion_auc_random"] for x in f])),
            "seconds_per_item_median": statistics.median(seconds), "seconds_per_item": seconds}  # fmt: skip


def summarize(tasks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The machine-read summary: per task, deletion areas by method beside random, and the sanity correlations."""
    out = {}
    for name, t in tasks.items():
        applied = {m: r for m, r in t["methods"].items() if r["applies"]}
        if not applied:
            continue
        out[name] = {"deletion_auc": {**{m: r["deletion_auc"] for m, r in applied.items()},
                                      "random": float(np.mean([r["deletion_auc_random"] for r in applied.values()]))},
                     "sanity_rank_corr": {m: r["sanity_rank_corr"] for m, r in applied.items()}}  # fmt: skip
    return out


def save(path: Path, tasks: dict[str, Any], args: argparse.Namespace) -> None:
    results = {
        "summary": summarize(tasks),
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "setting": {"max_epochs": args.max_epochs, "samples": args.samples, "seed": args.seed, "methods": list(METHODS),
                    "deletion": "20 steps of 5 % of the cells, most-attributed first, set to the task's baseline; random: 3 orderings",
                    "sanity": "Spearman of |attribution| on the trained model vs the same architecture re-initialised"},  # fmt: skip
        "split": "each task's own test split (its default protocol), samples drawn at random with the seed",
        "seeds": [args.seed],
        "machine": {"cpu_count": os.cpu_count(), "threads": torch.get_num_threads(), "platform": platform.platform(),
                    "torch": torch.__version__, "note": args.machine_note},  # fmt: skip
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "target_seconds_per_item": TARGET_SECONDS,
        "note": f"models are each task's default recipe trained for {args.max_epochs} epochs, not the headline runs' full training",
        "tasks": tasks,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float))
    tmp.replace(path)


def render(path: Path = RESULTS) -> str:
    """The docs/benchmarks.md block (`python benchmarks/render_docs.py`): per task and method, deletion and insertion
    areas beside random orderings, the sanity correlation and seconds per item."""
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    lines = ["| task (model) | method | deletion area (random) | insertion area (random) | beats random (share of samples) | "
             "sanity rank corr | s / item (median) |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, t in d["tasks"].items():
        for method, r in t["methods"].items():
            if not r["applies"]:
                lines.append(f"| {name} ({t['model']}) | {method} | does not apply | | | | |")
                continue
            mark = "**" if r["deletion_auc"] < r["deletion_auc_random"] else ""
            lines.append(f"| {name} ({t['model']}) | {method} | {mark}{r['deletion_auc']:.3f}{mark} ({r['deletion_auc_random']:.3f}) | "
                         f"{r['insertion_auc']:.3f} ({r['insertion_auc_random']:.3f}) | {r['deletion_beats_random_share']:.0%} | "
                         f"{r['sanity_rank_corr']:.2f} | {r['seconds_per_item_median']:.2f} |")  # fmt: skip
    st = d["setting"]
    lines += ["", f"Bold: a lower deletion area than random orderings. {st['samples']} test samples per task (seed {st['seed']}); "
                  f"deletion: {st['deletion']}; sanity: {st['sanity']}. {d['note']}. Target: {d['target_seconds_per_item']:g} s "
                  "per item on 2 cores.", "",
              f"Command: `{d['command'].split(' --machine-note')[0]}`; {d['machine']['cpu_count']} cores, torch {d['machine']['torch']}"
              f"{'; ' + d['machine']['note'] if d['machine'].get('note') else ''}; date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="*", default=None, help="registered task names (default: all)")
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=None, help="where the trained runs are kept (default: the cache)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--machine-note", default="")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = args.runs or cache_dir() / "bench" / "explain" / f"epochs{args.max_epochs}"
    previous = json.loads(args.out.read_text()).get("tasks", {}) if args.out.exists() else {}
    tasks: dict[str, Any] = dict(previous)
    for name in args.tasks or task_names():
        task = get_task(name)
        t0 = time.perf_counter()
        run_dir, config = trained_run(task, runs, args.max_epochs)
        train_seconds = time.perf_counter() - t0
        predictor = Predictor.from_artifact(run_dir)
        samples = test_samples(task, config, args.samples, args.seed)
        methods = {}
        for method in METHODS:
            methods[method] = r = measure(task, predictor, samples, method)
            if r["applies"]:
                print(f"{name} {method}: deletion {r['deletion_auc']:.3f} (random {r['deletion_auc_random']:.3f}), insertion "
                      f"{r['insertion_auc']:.3f} (random {r['insertion_auc_random']:.3f}), sanity {r['sanity_rank_corr']:.2f}, "
                      f"{r['seconds_per_item_median']:.2f} s/item", flush=True)  # fmt: skip
            else:
                print(f"{name} {method}: does not apply", flush=True)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        headline = metrics["test"].get("headline")
        tasks[name] = {"model": metrics["model"], "output_kind": metrics["output_kind"], "epochs": metrics["training"]["epochs"],
                       "test_headline": {headline: metrics["test"]["overall"].get(headline)} if headline else None,
                       "train_seconds": train_seconds, "methods": methods,
                       "meets_seconds_target": {m: r["seconds_per_item_median"] <= TARGET_SECONDS
                                                for m, r in methods.items() if r["applies"]}}  # fmt: skip
        save(args.out, tasks, args)
    print(json.dumps(summarize(tasks), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
