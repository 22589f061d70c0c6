"""Multimodal fusion against each modality alone, on modalities a patient really has together.

    physionet2012  the 48 h series (GRU-D) + the admission descriptors (Age, Gender, Height, ICUType, Weight; an MLP)
                   -> in-hospital death; sets A+B+C, stratified 80/10/10, seeds 0 1 2 (seed = split = weights), the
                   split of benchmarks/physionet2012.py
    mimic4-demo    coded visits (diagnoses, procedures, prescriptions) + lab trajectories (abnormal lab items per
                   visit) -> 30-day readmission; 100 patients split by patient 70/15/15, seeds 0 1 2 (RETAIN branches)

Arms: each modality alone (the fusion model with fusion=<modality>), and early / concat / late / gated fusion
(models/fusion.py). Every fused arm is also scored on the same test set with one modality removed from every sample
(descriptors or series absent), through the task's own predict path: the documented missing-modality behaviour.

    python benchmarks/fusion.py --datasets physionet2012 --seeds 0 --arms series static   # one process
    python benchmarks/fusion.py --datasets physionet2012 --seeds 1 2 &                    # a second, in parallel

Each finished run is a JSON file under --workdir/records; after every run the records are gathered into
benchmarks/results/fusion.json ("summary": per dataset, each arm's mean test AUROC over seeds with the mean of the
per-seed bootstrap CIs, the best single modality, the fused arm chosen on validation, its gain). Finished runs are
skipped, so a stopped benchmark resumes; processes running in parallel share the records.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medrnn.metrics.outputs import evaluate_outputs
from medrnn.tasks.base import TaskData, get_task
from medrnn.train.run import fit_task

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "fusion.json"
FUSED = ("early", "concat", "late", "gated")
DATASETS: dict[str, dict[str, Any]] = {
    "physionet2012": {"task": "icu_mortality", "modalities": ("series", "static"), "outcome": "In-hospital_death",
                      "config": {"data": {"sets": ["a", "b", "c"], "protocol": "split"}, "model": {"name": "fusion"}},
                      "reference": "benchmarks/results/physionet2012.json"},
    "mimic4-demo": {"task": "ehr_visits", "modalities": ("codes", "labs"), "outcome": "readmission_30d",
                    "config": {"data": {"data": "mimic4-demo", "task": "readmission_30d",
                                        "code_sources": ["diagnoses", "procedures", "prescriptions", "labevents"]},
                               "model": {"name": "fusion", "branch": "retain"}},
                    "reference": "benchmarks/results/mimic_demo.json"},
}  # fmt: skip


def run_config(dataset: str, arm: str, seed: int, max_epochs: int | None) -> Any:
    """The run config of one cell: the dataset's config with fusion=arm and the seed."""
    spec = DATASETS[dataset]
    raw = json.loads(json.dumps(spec["config"]))
    raw["model"]["fusion"] = arm
    raw["train"] = {"seed": seed, **({"max_epochs": max_epochs} if max_epochs else {})}
    raw["bootstrap"] = 1000
    return get_task(spec["task"]).config_class.model_validate(raw)


def auroc_of(y: np.ndarray, prob: np.ndarray, outcome: str, seed: int) -> dict[str, Any]:
    """Test AUROC with its bootstrap CI (by sample)."""
    report = evaluate_outputs(y, prob, [outcome], "binary", n_boot=1000, seed=seed)
    return {"auroc": report.per_label[outcome]["auroc"], "auroc_ci": report.ci.get(f"{outcome}.auroc")}


def one_run(dataset: str, arm: str, seed: int, data: TaskData, args: argparse.Namespace) -> dict[str, Any]:
    """Fit and score one (dataset, arm, seed); with a fused arm also score the test set missing each modality."""
    spec = DATASETS[dataset]
    task = get_task(spec["task"])
    record: dict[str, Any] = {"dataset": dataset, "arm": arm, "seed": seed, "error": None, "threads": args.threads}
    start = time.perf_counter()
    try:
        config = run_config(dataset, arm, seed, args.max_epochs)
        f = fit_task(task, config, args.workdir / "runs" / f"{dataset}-{arm}-{seed}", data=data)
        y = task.targets(data, f.split.test, f.pipeline)[:, 0]
        record.update(auroc_of(y, f.test_scores.values[:, 0], spec["outcome"], seed))
        record.update({"best_val": f.fit.best_score, "epochs": f.fit.epochs, "best_epoch": f.fit.best_epoch,
                       "train_seconds": f.seconds["train_seconds"], "n_test": int(len(y)), "n_pos": int(y.sum())})  # fmt: skip
        if arm in FUSED:
            test = task.subset(data, f.split.test)
            for modality in spec["modalities"]:
                scores = task.predict(f.model, f.pipeline, task.drop_modality(test, modality))
                record[f"without_{modality}"] = auroc_of(y, scores.values[:, 0], spec["outcome"], seed)
    except Exception as err:  # noqa: BLE001  recorded; the benchmark goes on with the other runs
        traceback.print_exc()
        record["error"] = f"{type(err).__name__}: {err}"
    record["wall_seconds"] = time.perf_counter() - start
    record["date"] = datetime.now().isoformat(timespec="seconds")
    return record


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dataset: each arm's mean AUROC (and of its missing-modality scores); best single arm; fused arm chosen on val."""
    out: dict[str, Any] = {}
    for dataset, spec in DATASETS.items():
        arms: dict[str, Any] = {}
        for arm in (*spec["modalities"], *FUSED):
            ok = [r for r in runs if r["dataset"] == dataset and r["arm"] == arm and r["error"] is None and r["auroc"] is not None]
            if not ok:
                continue
            au = [r["auroc"] for r in ok]
            cis = [r["auroc_ci"] for r in ok if r.get("auroc_ci")]
            row = {"auroc": statistics.fmean(au), "auroc_std": statistics.stdev(au) if len(au) > 1 else None,
                   "auroc_ci": [statistics.fmean(c[0] for c in cis), statistics.fmean(c[1] for c in cis)] if cis else None,
                   "best_val": statistics.fmean(r["best_val"] for r in ok), "seeds": sorted(r["seed"] for r in ok)}  # fmt: skip
            for modality in spec["modalities"]:
                scored = [r[f"without_{modality}"]["auroc"] for r in ok if r.get(f"without_{modality}", {}).get("auroc") is not None]
                if scored:
                    row[f"auroc_without_{modality}"] = statistics.fmean(scored)
            arms[arm] = row
        if not arms:
            continue
        singles = [a for a in spec["modalities"] if a in arms]
        fused = [a for a in FUSED if a in arms]
        best_single = max(singles, key=lambda a: arms[a]["auroc"]) if singles else None
        chosen = max(fused, key=lambda a: arms[a]["best_val"]) if fused else None  # chosen on validation, never on test
        out[dataset] = {"arms": arms, "best_single": best_single, "fusion": chosen,
                        "auroc": arms[chosen]["auroc"] if chosen else None,
                        "gain_over_best_single": (arms[chosen]["auroc"] - arms[best_single]["auroc"]) if chosen and best_single else None,
                        "reference": reference(dataset)}  # fmt: skip
    return out


def reference(dataset: str) -> dict[str, Any]:
    """Figures of the same split from the dataset's own benchmark (models without the fusion layer), for context."""
    path = Path(__file__).parent.parent / DATASETS[dataset]["reference"]
    if not path.exists():
        return {}
    summary = json.loads(path.read_text()).get("summary", {})
    if dataset == "physionet2012":
        per = summary.get("per_model", {})
        return {"file": DATASETS[dataset]["reference"], **{m: per[m]["auroc"] for m in ("gru_d", "lr") if m in per}}
    key = f"{dataset}/readmission_30d/retain"
    return {"file": DATASETS[dataset]["reference"], "retain": summary.get(key, {}).get("auroc")} if key in summary else {}


def gather(records: Path, out: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """All finished records -> the results file (atomic write); returns the records."""
    runs = sorted((json.loads(p.read_text()) for p in records.glob("*.json")), key=lambda r: (r["dataset"], r["arm"], r["seed"]))
    results = {"benchmark": "fusion", "runs": runs, "summary": summarize(runs),
               "protocol": {d: s["config"] for d, s in DATASETS.items()},
               "command": "python benchmarks/fusion.py --datasets physionet2012 mimic4-demo",
               "machine": {**machine(), "threads": args.threads, "torch": torch.__version__}}  # fmt: skip
    tmp = out.with_name(out.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, out)
    return runs


def render(path: Path = RESULTS) -> str:
    """The docs/benchmarks.md block (`fusion`) from results/fusion.json."""
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    lines = []
    for dataset, s in d["summary"].items():
        modalities = DATASETS[dataset]["modalities"]
        lines += [f"**{dataset}** (test ROC-AUC, mean of seeds; CI: mean of the per-seed bootstrap 95 % CIs)", "",
                  "| arm | ROC-AUC | 95 % CI | seed sd | val ROC-AUC | " + " | ".join(f"without {m}" for m in modalities) + " |",
                  "|---|---|---|---|---|" + "---|" * len(modalities)]  # fmt: skip
        for arm, row in s["arms"].items():
            ci = f"{row['auroc_ci'][0]:.3f}–{row['auroc_ci'][1]:.3f}" if row.get("auroc_ci") else "—"
            sd = f"{row['auroc_std']:.3f}" if row.get("auroc_std") is not None else "—"
            drops = " | ".join(f"{row[f'auroc_without_{m}']:.3f}" if f"auroc_without_{m}" in row else "—" for m in modalities)
            kind = "alone" if arm in modalities else "fusion"
            lines.append(f"| {arm} ({kind}, seeds {row['seeds']}) | {row['auroc']:.3f} | {ci} | {sd} | {row['best_val']:.3f} | {drops} |")
        gain = s.get("gain_over_best_single")
        lines += ["", f"Best single modality: {s['best_single']}; fusion chosen on validation: {s['fusion']} "
                      f"(test {s['auroc']:.3f}, {gain:+.3f} over the best single modality)." if s["fusion"] else ""]  # fmt: skip
        ref = {k: v for k, v in s.get("reference", {}).items() if k != "file" and v is not None}
        if ref:
            lines.append("Same split without the fusion layer (" + s["reference"]["file"] + "): "
                         + ", ".join(f"{k} {v:.3f}" for k, v in ref.items()) + ".")  # fmt: skip
        lines.append("")
    m = d["machine"]
    dates = sorted(r["date"][:10] for r in d["runs"])
    lines.append(f"Command: `{d['command']}`; {m['cores']} cores ({m['cpu']}), torch {m['torch']}, {m['threads']} thread per "
                 f"process; runs dated {dates[0]} to {dates[-1]}.")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--arms", nargs="+", help="default: every modality alone, then early concat late gated")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--max-epochs", type=int, help="override the config's max_epochs (smoke runs)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "medrnn" / "bench" / "fusion")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--summarize-only", action="store_true", help="gather the records into --out and run nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    records = args.workdir / "records"
    records.mkdir(parents=True, exist_ok=True)
    if args.summarize_only:
        gather(records, args.out, args)
        return 0
    for dataset in args.datasets:
        spec = DATASETS[dataset]
        data = get_task(spec["task"]).load(run_config(dataset, "gated", 0, None))  # read once per dataset
        for seed in args.seeds:
            for arm in args.arms or (*spec["modalities"], *FUSED):
                path = records / f"{dataset}-{arm}-{seed}.json"
                if path.exists() and json.loads(path.read_text())["error"] is None:
                    continue
                print(f"[{dataset} {arm} {seed}] ...", flush=True)
                record = one_run(dataset, arm, seed, data, args)
                path.write_text(json.dumps(record, indent=1))
                print(f"[{dataset} {arm} {seed}] auroc {record.get('auroc')} error {record['error']}", flush=True)
                gather(records, args.out, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
