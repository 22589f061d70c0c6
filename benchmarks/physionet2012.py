"""PhysioNet/CinC 2012 in-hospital mortality: GRU-D and recurrent baselines beside logistic regression on summaries.

Two protocols, both stratified by the outcome, the stay as the unit (the challenge gives no patient id):
  cv     set A alone (4,000 stays), 5-fold cross-validation, validation = 10 % of the training folds (GRU-D's setting)
  split  sets A+B+C (11,988 stays with data), 80/10/10 holdout, seeds 0 1 2 (like Raindrop's P12 setting; not its 5 fixed splits)
Stays with descriptors only (12; no time series) are listed in the data report and excluded, as the papers do.

    python benchmarks/physionet2012.py --protocols split cv --models gru_d gru rnn lr --threads 1
    python benchmarks/physionet2012.py --protocols cv --models lr                 # one cell, seconds

Writes benchmarks/results/physionet2012.json after every run (resumable; finished runs are skipped) with
"summary": {"model", "auroc", "auprc", "seeds", ...} for the best model of the split protocol and a row per model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medrnn.metrics.calibration import calibration_report
from medrnn.metrics.outputs import evaluate_outputs
from medrnn.tasks.base import TaskData, get_task
from medrnn.tasks.icu_mortality.config import IcuRunConfig
from medrnn.tasks.icu_mortality.data import make_icu_split
from medrnn.train.run import fit_task
from medrnn.transforms.irregular import static_features, summary_features

RESULTS = Path(__file__).parent / "results" / "physionet2012.json"
PROTOCOLS = {"cv": {"sets": ["a"], "units": [0, 1, 2, 3, 4]}, "split": {"sets": ["a", "b", "c"], "units": [0, 1, 2]}}
RECURRENT = ("gru_d", "gru", "lstm", "rnn")
PUBLISHED = {  # AUROC; GRU-D/Che confirmed in the arXiv text, the Raindrop table second-hand only - see docs/benchmarks.md
    "GRU-D (Che et al. 2018, set A, 5-fold)": 0.8424,
    "GRU-D (Zhang et al. 2022, Raindrop, P12)": 0.819,
    "SeFT (Raindrop, P12)": 0.739,
    "mTAND (Raindrop, P12)": 0.842,
    "Raindrop (Zhang et al. 2022, P12)": 0.828,
}


def config_for(protocol: str, model: str, unit: int, max_epochs: int | None) -> IcuRunConfig:
    """The run config of one cell; the seed (split = weights = batches) is the unit for split, 0 for cv."""
    data = {"sets": PROTOCOLS[protocol]["sets"], "protocol": protocol, "fold": unit if protocol == "cv" else 0}
    train = {"seed": unit if protocol == "split" else 0, **({"max_epochs": max_epochs} if max_epochs else {})}
    return IcuRunConfig.model_validate({"data": data, "model": {"name": model}, "train": train})


def run_lr(data: TaskData, config: IcuRunConfig, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Logistic regression on per-variable summaries (first/last/min/max/mean/count) + descriptors; C tuned on val."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    samples = data.samples  # IcuStays: the task's stays, labels and hourly grid
    y = samples.y
    split = make_icu_split(y, config, seed)
    start = time.perf_counter()
    binned = samples.binned_on(config.data.hours, config.data.bin_minutes)
    feats = np.stack([np.concatenate([summary_features(*b), static_features(s)[0]]) for s, b in zip(samples.stays, binned)])
    best: tuple[float, float, Any] = (-1.0, 0.0, None)
    for c in (0.001, 0.01, 0.1, 1.0):
        pipe = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler(),
                             LogisticRegression(C=c, max_iter=5000))  # fmt: skip
        pipe.fit(feats[split.train], y[split.train])
        val = roc_auc_score(y[split.val], pipe.predict_proba(feats[split.val])[:, 1])
        if val > best[0]:
            best = (val, c, pipe)
    prob = best[2].predict_proba(feats[split.test])[:, 1]
    return y[split.test], prob, {"train_seconds": time.perf_counter() - start, "C": best[1], "best_val": best[0], "epochs": None}


def run_recurrent(data: TaskData, config: IcuRunConfig, run_dir: Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The task's own training (fit_task on the stays already read): test labels, test risks, timings."""
    task = get_task("icu_mortality")
    f = fit_task(task, config, run_dir, data=data)
    info = {"train_seconds": f.seconds["train_seconds"], "epochs": f.fit.epochs, "seconds_per_epoch": f.fit.seconds / max(f.fit.epochs, 1),
            "best_epoch": f.fit.best_epoch, "best_val": f.fit.best_score}  # fmt: skip
    return task.targets(data, f.split.test, f.pipeline)[:, 0], f.test_scores.values[:, 0], info


def one_run(protocol: str, model: str, unit: int, data: TaskData, args: argparse.Namespace) -> dict[str, Any]:
    """Fit and score one (protocol, model, seed-or-fold); a failure is recorded, not raised."""
    seed = unit if protocol == "split" else 0
    config = config_for(protocol, model, unit, args.max_epochs)
    record: dict[str, Any] = {"protocol": protocol, "model": model, "unit": unit, "seed": seed, "error": None, "threads": args.threads}
    start = time.perf_counter()
    try:
        run_dir = args.workdir / f"{protocol}-{model}-{unit}"
        y, prob, info = run_lr(data, config, seed) if model == "lr" else run_recurrent(data, config, run_dir)
        report = evaluate_outputs(y, prob, ["In-hospital_death"], "binary", n_boot=1000, seed=seed)
        task = report.per_label["In-hospital_death"]
        record.update(info)
        record.update({"auroc": task["auroc"], "auprc": task["auprc"], "auroc_ci": report.ci.get("In-hospital_death.auroc"),
                       "auprc_ci": report.ci.get("In-hospital_death.auprc"), "n_test": int(len(y)), "n_pos": int(y.sum()),
                       "calibration": calibration_report(y, prob)})  # fmt: skip
    except Exception as err:  # noqa: BLE001  recorded; the benchmark goes on with the other runs
        traceback.print_exc()
        record["error"] = f"{type(err).__name__}: {err}"
    record["wall_seconds"] = time.perf_counter() - start
    record["date"] = datetime.now().isoformat(timespec="seconds")
    return record


def summarize(runs: list[dict[str, Any]], protocol: str) -> dict[str, Any]:
    """Per model: mean/std AUROC and AUPRC over seeds (or folds). The recurrent model with the best mean *validation*
    AUROC heads the summary; the logistic-regression baseline of the same run sits beside it."""
    rows: dict[str, Any] = {}
    for model in sorted({r["model"] for r in runs if r["protocol"] == protocol}):
        ok = [r for r in runs if r["protocol"] == protocol and r["model"] == model and r["error"] is None]
        if not ok:
            continue
        au, ap = [r["auroc"] for r in ok], [r["auprc"] for r in ok]
        rows[model] = {"auroc": statistics.fmean(au), "auroc_std": statistics.stdev(au) if len(au) > 1 else None,
                       "auprc": statistics.fmean(ap), "auprc_std": statistics.stdev(ap) if len(ap) > 1 else None,
                       "brier": statistics.fmean(r["calibration"]["brier"] for r in ok),
                       "seeds": sorted(r["unit"] for r in ok)}  # fmt: skip
    if not rows:
        return {"model": None, "auroc": None, "auprc": None, "seeds": [], "protocol": protocol, "per_model": {}}
    for model in rows:  # the headline model is chosen on validation, never on test
        rows[model]["best_val"] = statistics.fmean(r["best_val"] for r in runs if r["protocol"] == protocol and r["model"] == model
                                                   and r["error"] is None)  # fmt: skip
    recurrent = [m for m in rows if m != "lr"] or list(rows)  # the headline is medrnn's model; the baseline is reported beside it
    best = max(recurrent, key=lambda m: rows[m]["best_val"])
    baseline = {"model": "lr", "auroc": rows["lr"]["auroc"], "auprc": rows["lr"]["auprc"]} if "lr" in rows else None
    return {"model": best, "auroc": rows[best]["auroc"], "auprc": rows[best]["auprc"], "seeds": rows[best]["seeds"],
            "protocol": protocol, "baseline": baseline, "per_model": rows}  # fmt: skip


def save(path: Path, runs: list[dict[str, Any]], data: dict[str, Any], args: argparse.Namespace) -> None:
    results = {"benchmark": "physionet2012", "runs": runs, "data": data, "published_auroc": PUBLISHED,
               "protocols": {"cv": "set A, stratified 5-fold (seed 0), val 10 % of training folds",
                             "split": "sets A+B+C, stratified 80/10/10, seeds 0 1 2 (seed = split = weights)"},
               "machine": {"cpu_count": os.cpu_count(), "threads": args.threads, "platform": platform.platform(),
                           "torch": torch.__version__, "python": platform.python_version()},
               "summary": summarize(runs, "split"), "summary_cv": summarize(runs, "cv")}  # fmt: skip
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS), default=["split", "cv"])
    parser.add_argument("--models", nargs="+", choices=[*RECURRENT, "lr"], default=["lr", "gru_d", "gru", "rnn"])
    parser.add_argument("--units", nargs="+", type=int, help="seeds (split) or folds (cv) to run; default all")
    parser.add_argument("--max-epochs", type=int, help="override the config's max_epochs (smoke runs)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "medrnn" / "bench" / "physionet2012")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--summarize-only", action="store_true", help="recompute the summaries of --out and run nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {"runs": [], "data": {}}
    runs = {(r["protocol"], r["model"], r["unit"]): r for r in previous["runs"]}
    data = previous.get("data", {})
    if args.summarize_only:
        save(args.out, sorted(runs.values(), key=lambda r: (r["protocol"], r["model"], r["unit"])), data, args)
        return 0
    for protocol in args.protocols:
        # the stays are read once per protocol (the task's load: stays without time series excluded and counted)
        stays = get_task("icu_mortality").load(config_for(protocol, "gru_d", 0, None))
        data[protocol] = {"n_stays": stays.info["stays_read"], "n_used": len(stays),
                          "excluded_no_time_series": stays.info["read"]["no_time_series"],
                          "n_deaths": int(stays.samples.y.sum())}  # fmt: skip
        for model in args.models:
            for unit in args.units if args.units is not None else PROTOCOLS[protocol]["units"]:
                key = (protocol, model, unit)
                if key in runs and runs[key]["error"] is None:
                    continue
                print(f"[{protocol} {model} {unit}] ...", flush=True)
                runs[key] = one_run(protocol, model, unit, stays, args)
                r = runs[key]
                print(f"[{protocol} {model} {unit}] auroc {r.get('auroc')} auprc {r.get('auprc')} error {r['error']}", flush=True)
                save(args.out, sorted(runs.values(), key=lambda r: (r["protocol"], r["model"], r["unit"])), data, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
