"""Calibration and conformal uncertainty of every registered task (issue #20): ECE and Brier on test before and after
the calibrator fitted on validation, and the empirical test coverage of the split-conformal sets/intervals at 0.9.
Every task is trained once per seed (seeds 0, 1, 2 by default: each seed draws its own split where the task's split is
seeded); `summary` holds the means over seeds, `runs` each seed's numbers.

Each task trains its quick config (`task.quick_config()`: a small real subset, seconds to a minute on 2 cores), so the
validation and test splits are small and the coverage estimates carry a binomial spread of several points; the numbers
say how the machinery behaves on real data, not what a full run reaches.

    python benchmarks/calibration.py                       # every task -> results/calibration.json
    python benchmarks/calibration.py --tasks ecg_beats,molecules --seeds 0

The JSON is rewritten after each task: `summary` keyed by task name with ece_before, ece_after, brier_before,
brier_after, coverage_target, coverage, mean_set_size (classification) or mean_width (regression).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from machine import machine  # benchmarks/machine.py: the script's folder is on sys.path

RESULTS = Path(__file__).parent / "results" / "calibration.json"
COVERAGE = 0.9


def measure(name: str, seed: int) -> dict[str, Any]:
    """Train the task's quick config once; calibration before/after and conformal coverage at 0.9 on its test split."""
    from medrnn.metrics.calibration import calibration_summary
    from medrnn.tasks.base import get_task
    from medrnn.train.run import fit_task

    task = get_task(name)
    cfg = task.quick_config()
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"seed": seed, "progress": False})})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        f = fit_task(task, cfg, Path(tmp) / "run")
    kind = f.pipeline.output_kind
    y_test = task.targets(f.data, f.split.test, f.pipeline)
    before = calibration_summary(y_test, f.test_uncalibrated.values, kind)
    after = calibration_summary(y_test, f.test_scores.values, kind)
    conformal = f.uncertainty.conformal.evaluate(f.test_scores.values, y_test, COVERAGE)
    row: dict[str, Any] = {"output_kind": kind, "calibrator": f.uncertainty.calibrator.summary()}
    if before is not None and after is not None:
        row |= {"ece_before": before["ece"], "ece_after": after["ece"], "brier_before": before["brier"], "brier_after": after["brier"]}
    size = {"mean_width": conformal["mean_width"]} if kind == "regression" else {"mean_set_size": conformal["mean_set_size"]}
    row |= {"coverage_target": COVERAGE, "coverage": conformal["coverage"], **size, "class_conditional": conformal["class_conditional"],
            "n_val": int(len(f.split.val)), "n_test": int(len(f.split.test)), "n_test_scored": conformal.get("n"),
            "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
    for key in ("per_class_coverage", "per_output", "of"):
        if key in conformal:
            row[key] = conformal[key]
    return row


def from_run(run_dir: Path) -> dict[str, Any]:
    """The same row from a finished training run's metrics.json (calibration_before, calibration, conformal at 0.9)."""
    m = json.loads((run_dir / "metrics.json").read_text())
    before, after, conformal = m.get("calibration_before"), m.get("calibration"), m.get("conformal") or {}
    row: dict[str, Any] = {"seed": m["split"]["seed"], "output_kind": m["output_kind"], "calibrator": m.get("calibrator")}
    if before and after:
        row |= {"ece_before": before["ece"], "ece_after": after["ece"], "brier_before": before["brier"], "brier_after": after["brier"]}
    size = (
        {"mean_width": conformal.get("mean_width")}
        if m["output_kind"] == "regression"
        else {"mean_set_size": conformal.get("mean_set_size")}
    )
    row |= {"coverage_target": COVERAGE, "coverage": conformal.get("coverage"), **size,
            "class_conditional": conformal.get("class_conditional"), "n_val": m["split"]["counts"]["val"],
            "n_test": m["split"]["counts"]["test"], "run": str(run_dir), "epochs": m["training"]["epochs"]}  # fmt: skip
    for key in ("per_class_coverage", "per_output", "of", "error"):
        if key in conformal:
            row[key] = conformal[key]
    return row


KEYS = ("ece_before", "ece_after", "brier_before", "brier_after", "coverage_target", "coverage", "mean_set_size", "mean_width")


def mean_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary keys averaged over seeds, plus the output kind, seeds, sizes and how often ECE went down."""
    out: dict[str, Any] = {"output_kind": runs[0]["output_kind"], "seeds": [r["seed"] for r in runs]}
    for key in KEYS:
        values = [r[key] for r in runs if r.get(key) is not None]
        if values:
            out[key] = sum(values) / len(values)
    if "ece_before" in out:
        out["ece_lower_after"] = f"{sum(r['ece_after'] <= r['ece_before'] for r in runs)}/{len(runs)} seeds"
    out["n_val"], out["n_test"] = runs[0]["n_val"], runs[0]["n_test"]
    return out


def render(path: Path = RESULTS) -> str:
    """The docs/benchmarks.md block (`calibration`) from results/calibration.json."""
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())

    def f(row: dict[str, Any], key: str) -> str:
        return f"{row[key]:.3f}" if isinstance(row.get(key), (int, float)) else "–"

    lines = ["| task | output | ECE before → after | Brier before → after | ECE lower after | coverage at 0.9 | "
             "mean set size / interval width | validation / test items (seed 0) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, row in d["summary"].items():
        size = f"{row['mean_set_size']:.2f}" if "mean_set_size" in row else f"{row['mean_width']:.3g} (width)"
        off = abs(row["coverage"] - row["coverage_target"]) > 0.02 if isinstance(row.get("coverage"), (int, float)) else False
        cov = f"**{row['coverage']:.3f}**" if off else f(row, "coverage")
        lines.append(f"| {name} | {row['output_kind']} | {f(row, 'ece_before')} → {f(row, 'ece_after')} | {f(row, 'brier_before')} → "
                     f"{f(row, 'brier_after')} | {row.get('ece_lower_after', '–')} | {cov} | {size} | "
                     f"{row['n_val']} / {row['n_test']} |")  # fmt: skip
    lines += [f"| {name} | failed: {why[:120]} | | | | | | |" for name, why in d.get("errors", {}).items()]
    m = d["machine"]
    lines += ["", "Means over seeds " + ", ".join(map(str, d["seeds"])) + "; coverage more than 2 points from 0.9 in bold. "
              f"Configs: {d['configs']}. Coverage of multilabel tasks is the recall of the sets (true labels in the set).", "",
              f"Command: `{d['command'].strip()}`; {m['cores']} cores ({m['cpu']}), Python {m['python']}; "
              f"date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from medrnn.tasks.base import task_names

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(task_names()), help="comma-separated task names (default: every registered task)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds; summary = mean over them")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--runs",
        type=Path,
        default=None,
        help="read finished runs RUNS/TASK (e.g. the explain benchmark's default recipes) instead of training quick configs",
    )
    args = parser.parse_args(argv)
    if args.runs is not None:
        return from_runs(args, argv)
    names = [n for n in args.tasks.split(",") if n]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    result: dict[str, Any] = {
        "command": "python benchmarks/calibration.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "configs": "quick (task.quick_config(): small real subsets; small validation and test splits)",
        "split": "each task's own split (by record, patient, stay, segment, scaffold or document); calibrator and conformal "
                 "fitted on validation, measured on test",
        "seeds": seeds, "coverage_target": COVERAGE, "machine": machine(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "summary": {}, "runs": {}, "errors": {},
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        print(f"{name} ...", flush=True)
        runs = []
        for seed in seeds:
            try:
                runs.append({"seed": seed, **measure(name, seed)})
            except Exception as err:  # noqa: BLE001 - one task failing is recorded, the others still run
                result["errors"][f"{name} seed {seed}"] = f"{type(err).__name__}: {err}"
        if runs:
            result["runs"][name] = runs
            result["summary"][name] = mean_of(runs)
        print(json.dumps({name: result["summary"].get(name)}, default=str)[:600], flush=True)
        args.out.write_text(json.dumps(result, indent=2, default=float))
    return 0


def from_runs(args: argparse.Namespace, argv: list[str] | None) -> int:
    """Summary from finished runs (one per task, its training seed); earlier quick-config results kept under quick_configs."""
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    quick = previous.get("quick_configs") or ({k: previous[k] for k in ("summary", "command", "configs", "date")}
                                              if str(previous.get("configs", "")).startswith("quick") else None)  # fmt: skip
    result: dict[str, Any] = {
        "command": "python benchmarks/calibration.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "configs": f"each task's default recipe (headline model and data) trained briefly: the runs in {args.runs}, made by "
                   "`python benchmarks/explain.py` = `medrnn train TASK --max-epochs 3`",
        "split": "each task's own split (by record, patient, stay, segment, scaffold or document); calibrator and conformal "
                 "fitted on validation, measured on test",
        "seeds": [0], "coverage_target": COVERAGE, "machine": machine(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "summary": {}, "runs": {}, "errors": {},
        "quick_configs": quick,
    }  # fmt: skip
    for name in [n for n in args.tasks.split(",") if n]:
        run_dir = args.runs / name
        if not (run_dir / "metrics.json").is_file():
            result["errors"][name] = f"no finished run in {run_dir}"
            continue
        row = from_run(run_dir)
        result["runs"][name] = [row]
        result["summary"][name] = mean_of([row])
    args.out.write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(result["summary"], indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
