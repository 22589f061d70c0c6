"""CodiEsp-D (CLEF eHealth 2020): medrnn's recurrent coders beside a TF-IDF + one-vs-rest logistic regression.

Protocol: the official split. Train on train (500 Spanish case reports); dev (250) for early stopping, the
baseline's C and both decision thresholds; one evaluation on test (250). Labels are the 1,767 D codes seen in
train. Two MAPs: `map` over the representable codes, `map_all_gold` with every test gold code outside the label
set counted as a miss, which is how the official script scores such a system (the one to set beside published
CodiEsp-D results).

    python benchmarks/codiesp.py --models laat --seeds 0 1 2 --jobs 2      # + the baseline, once
    python benchmarks/codiesp.py --models laat --recipe benchmarks/recipes/codiesp_evidence.yaml --name laat+evidence
    python benchmarks/codiesp.py --baseline-only                            # TF-IDF + LR, about a minute

Writes benchmarks/results/codiesp.json (resumable; finished runs are skipped) with "summary": {"model", "map",
"micro_f1", "macro_f1", "baseline_map", ...}: the recurrent model with the best mean *dev* MAP, means over seeds.
Runs are keyed by (name, seed); `--name` labels a recipe variant (default: the model's name), so an ablation keeps
its rows beside the new recipe's. Each run (`run_task` on the icd_coding task, the code of `medrnn train notes`) is kept
under ~/.cache/medrnn/bench/codiesp/runs/; once a recipe's seeds are done, they are served as one model (`build_ensemble`,
the code of `medrnn ensemble`: mean probability, threshold re-tuned on dev) and that ensemble codes the test note files
through `Predictor.predict`, the code of `medrnn predict`; it competes for the headline on dev MAP.

    python benchmarks/codiesp.py --name laat+evidence --serve            # (re)build and score the served ensemble only
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import statistics
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from medrnn.io.codiesp import read_codiesp
from medrnn.metrics.codes import evaluate_codes, tune_threshold
from medrnn.tasks.base import get_task
from medrnn.tasks.icd_coding.config import NotesRunConfig
from medrnn import paths
from medrnn.tasks.icd_coding.data import gold_counts, label_matrix
from medrnn.tasks.icd_coding.outputs import gold_maps

RESULTS = Path(__file__).parent / "results" / "codiesp.json"
PREDICTIONS = Path.home() / ".cache" / "medrnn" / "bench" / "codiesp"
MODELS = ("laat", "caml", "bigru_maxpool")
PUBLISHED = "see docs/benchmarks.md (CodiEsp-D section) for the published figures and what could be confirmed"
TASK = get_task("icd_coding")
# map_seen / map_unseen: MAP over each note's gold codes inside / outside the label set (seen / never seen in training),
# precision read on the full ranking; with data.code_descriptions the ranking holds title-ranked unseen codes too
KEYS = ("map", "map_all_gold", "map_seen", "map_unseen", "map_all_gold_labels_only", "micro_f1", "macro_f1", "macro_f1_caml",
        "p@5", "micro_auroc")


def run_baseline(recipe: dict[str, Any]) -> dict[str, Any]:
    """TF-IDF (medrnn's tokens, unigrams, sublinear tf, fitted on train) + one-vs-rest liblinear LR; C by dev MAP."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    config = NotesRunConfig.model_validate(recipe)
    data = TASK.load(config)  # the task's own reading, split and training-only label set: what the recurrent runs see
    split = TASK.split(data, config)
    pipeline = TASK.fit_pipeline(data, split, config)
    parts = {"train": split.train, "dev": split.val, "test": split.test}
    docs = {s: [" ".join(doc) for doc in TASK.subset(data, index).token_texts()] for s, index in parts.items()}
    y = {s: TASK.targets(data, index, pipeline) for s, index in parts.items()}
    names = pipeline.label_names
    start = time.perf_counter()
    vec = TfidfVectorizer(sublinear_tf=True, token_pattern=r"\S+", lowercase=False)  # tokens are already normalised
    x = {"train": vec.fit_transform(docs["train"]), "dev": vec.transform(docs["dev"]), "test": vec.transform(docs["test"])}
    best: tuple[float, float, Any] = (-1.0, 0.0, None)
    for c in (1.0, 10.0, 100.0):
        clf = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear", max_iter=1000)).fit(x["train"], y["train"])
        dev_map = evaluate_codes(y["dev"], clf.predict_proba(x["dev"]), names, 0.5, n_boot=0).overall["map"]
        if dev_map > best[0]:
            best = (dev_map, c, clf)
    dev_probs = best[2].predict_proba(x["dev"])
    threshold = float(tune_threshold(y["dev"], dev_probs))
    report = evaluate_codes(y["test"], best[2].predict_proba(x["test"]), names, threshold, train_counts=pipeline.label_counts,
                            n_boot=config.bootstrap, seed=0, gold_counts=gold_counts(TASK.subset(data, split.test).records))  # fmt: skip
    return {"model": "tfidf_lr", "seed": None, "error": None, "C": best[1], "dev_map": best[0], "threshold": threshold,
            "test": {k: report.overall.get(k) for k in KEYS}, "ci": report.ci, "buckets": report.extras["buckets"],
            "train_seconds": time.perf_counter() - start, "features": len(vec.vocabulary_)}  # fmt: skip


def run_path(name: str, seed: int) -> Path:
    """The run folder of (name, seed): config, metrics, test scores and the model artifact."""
    return PREDICTIONS / "runs" / f"{name}-seed{seed}"


def run_medrnn(model: str, name: str, seed: int, recipe: dict[str, Any], threads: int) -> dict[str, Any]:
    """One `run_task` of the icd_coding task (the same code as `medrnn train notes`) in a scratch folder."""
    import torch

    from medrnn.train.run import run_task

    torch.set_num_threads(threads)
    config = NotesRunConfig.model_validate({**recipe, "model": {**recipe.get("model", {}), "name": model},
                                            "train": {**recipe.get("train", {}), "seed": seed, "progress": False}})  # fmt: skip
    row: dict[str, Any] = {"model": model, "name": name, "seed": seed, "error": None}
    try:
        run_dir = run_path(name, seed)  # kept (not in git): its model/ is an ensemble member, see `served_ensemble`
        shutil.rmtree(run_dir, ignore_errors=True)  # a stale folder from an interrupted run must not feed this one
        m = run_task(TASK, config, run_dir, progress=False).metrics
        pred = np.load(run_dir / "predictions.npz")
        np.savez_compressed(PREDICTIONS / f"{name}-seed{seed}.npz", y_true=pred["y_true"].astype(bool),
                            y_score=pred["y_score"].astype(np.float16), label_names=pred["label_names"])  # fmt: skip
    except Exception as err:  # noqa: BLE001 - a failed run is recorded; the others go on
        return {**row, "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc(limit=4)}
    return {**row, "dev_map": m["dev"]["map"], "threshold": m["threshold"], "test": {k: m["test"]["overall"].get(k) for k in KEYS},
            "ci": m["test"]["ci"], "buckets": m["test"]["extras"]["buckets"], "evidence_overlap": m["evidence_overlap"],
            "unseen_gold_codes": m["unseen_gold_codes"], "training": _training(m), "config": config.model_dump(mode="json")}  # fmt: skip


def _training(m: dict[str, Any]) -> dict[str, Any]:
    """The "training" entry of a result row as run_notes_experiment wrote it (epochs, best_epoch, train_seconds, evidence)."""
    t = m["training"]
    return {"epochs": t["epochs"], "best_epoch": t["best_epoch"], "train_seconds": m["timings"]["train_seconds"],
            "evidence_supervision": m["data"].get("evidence_supervision")}  # fmt: skip


@functools.cache
def _test_gold_counts() -> np.ndarray:
    """Gold D codes per CodiEsp test note (unseen codes included), read once per process."""
    records, _ = read_codiesp(paths.resolve_dataset("codiesp"), code_types=("D",))
    return gold_counts([r for r in records if r.split == "test"])


def ensemble(name: str, seeds: list[int], gold: np.ndarray) -> dict[str, Any] | None:
    """MAP of the mean test probability over the seeds' runs (a seed ensemble), when every run's scores were kept."""
    files = [PREDICTIONS / f"{name}-seed{s}.npz" for s in seeds]
    if len(files) < 2 or not all(f.exists() for f in files):
        return None
    runs = [np.load(f) for f in files]
    if runs[0]["y_true"].shape[0] != len(gold) or (runs[0]["y_true"].sum(axis=1) > gold).any():
        raise ValueError(f"{files[0]}: its test rows do not line up with the CodiEsp test notes' gold code counts")
    score = np.mean([r["y_score"].astype(np.float64) for r in runs], axis=0)
    report = evaluate_codes(runs[0]["y_true"].astype(np.float32), score, list(runs[0]["label_names"]), 0.5, n_boot=0,
                            gold_counts=gold)  # fmt: skip
    return {"seeds": seeds, "map": report.overall["map"], "map_all_gold": report.overall.get("map_all_gold")}


def served_ensemble(name: str, seeds: list[int]) -> dict[str, Any] | None:
    """The seed ensemble exactly as users get it: `build_ensemble` over the kept runs (threshold re-tuned on dev, as
    `medrnn ensemble`), then it codes the test note files through `Predictor.predict` (as `medrnn predict`); one
    evaluation on test."""
    from medrnn.ensemble import build_ensemble
    from medrnn.predict import Predictor

    runs = [run_path(name, s) for s in seeds]
    if len(runs) < 2 or not all((r / "model" / "artifact.json").exists() for r in runs):
        return None
    folder = PREDICTIONS / "runs" / f"{name}-ensemble"
    meta = build_ensemble(runs, folder)
    ens = Predictor.from_artifact(folder)
    records, _ = read_codiesp(paths.resolve_dataset("codiesp"), splits=("test",), code_types=("D",))
    result = ens.predict([r.source for r in records])
    if result.failures:
        raise ValueError(f"{folder}: {len(result.failures)} test notes could not be coded, e.g. {next(iter(result.failures.items()))}")
    probs = np.concatenate([item.scores.values for item in result.items])
    y = label_matrix(records, ens.label_names)
    threshold = float(ens.pipeline.threshold)
    report = evaluate_codes(y, probs, ens.label_names, threshold, n_boot=1000, seed=0, gold_counts=gold_counts(records))
    report.overall.update(gold_maps(ens.pipeline, [r.text for r in records], [set(r.codes) for r in records], probs))
    members_dev_map = [json.loads((r / "metrics.json").read_text())["dev"]["map"] for r in runs]  # MAP needs no threshold
    return {"seeds": seeds, "served": True, "dev_map": meta["tuning"]["map"], "threshold": threshold,
            "members_dev_map": members_dev_map, **{k: report.overall.get(k) for k in KEYS}, "ci": report.ci}  # fmt: skip


def _name(row: dict[str, Any]) -> str:
    return row.get("name") or row["model"]  # rows written before --name existed carry only the model


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Means over seeds per model; the headline model is the one with the best mean dev MAP (test never chooses)."""
    per_model: dict[str, Any] = {}
    for model in dict.fromkeys(_name(r) for r in results["runs"]):
        ok = [r for r in results["runs"] if _name(r) == model and r["error"] is None]
        if ok:
            per_model[model] = {"model": ok[0]["model"], "recipe": (results.get("recipes") or {}).get(model),
                                "seeds": sorted(r["seed"] for r in ok), "dev_map": statistics.fmean(r["dev_map"] for r in ok),
                                **{k: statistics.fmean(r["test"][k] for r in ok) for k in KEYS if ok[0]["test"].get(k) is not None},
                                "map_std": statistics.stdev([r["test"]["map"] for r in ok]) if len(ok) > 1 else None}  # fmt: skip
    baseline = results.get("baseline") or {}
    base = baseline.get("test", {})
    summary: dict[str, Any] = {"model": None, "map": None, "micro_f1": None, "macro_f1": None, "baseline_map": base.get("map"),
                               "baseline_map_all_gold": base.get("map_all_gold"), "baseline_micro_f1": base.get("micro_f1"),
                               "per_model": per_model}  # fmt: skip
    before = (results.get("summary") or {}).get("per_model", {})
    if any((PREDICTIONS / f"{n}-seed{s}.npz").exists() for n, row in per_model.items() for s in row["seeds"]):
        for n, row in per_model.items():  # a recipe whose kept scores are gone (another machine) keeps its recorded figure
            row["ensemble"] = ensemble(n, row["seeds"], _test_gold_counts()) or (before.get(n) or {}).get("ensemble")
    served = {n: e for n, e in (results.get("served_ensembles") or {}).items() if n in per_model}
    for n, e in served.items():
        per_model[n]["served_ensemble"] = e
    # candidates: each recipe (mean over its seeds) and each served seed ensemble; the best dev MAP wins, test never chooses
    candidates = {n: (row["dev_map"], row, n) for n, row in per_model.items()}
    candidates.update({f"{n} ensemble": (e["dev_map"], e, n) for n, e in served.items()})
    if candidates:
        name = max(candidates, key=lambda c: candidates[c][0])
        _, row, recipe = candidates[name]
        summary.update({"model": name, "map": row["map"], "micro_f1": row["micro_f1"], "macro_f1": row["macro_f1"],
                        "map_all_gold": row.get("map_all_gold"), "map_seen": row.get("map_seen"),
                        "map_unseen": row.get("map_unseen"), "seeds": row["seeds"], "chosen_by": "dev MAP",
                        "single_model": {k: per_model[recipe].get(k) for k in ("map", "map_std", "map_all_gold", "micro_f1", "macro_f1")},
                        "ensemble": served.get(recipe) or per_model[recipe].get("ensemble")})  # fmt: skip
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["laat"], choices=MODELS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--recipe", type=Path, help="YAML NotesRunConfig overrides shared by every run (model.name and seed are set here)")
    parser.add_argument("--name", help="label of these runs (a recipe variant, e.g. laat+evidence); default: the model's name")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--baseline-only", action="store_true")
    parser.add_argument("--serve", action="store_true",
                        help="no training: build the served seed ensemble of --name's kept runs (medrnn ensemble) and score test")
    parser.add_argument("--summarize-only", action="store_true", help="recompute the summary (e.g. once every seed's scores are kept)")
    parser.add_argument("--merge", type=Path, nargs="+", default=[],
                        help="results files of other invocations (another machine, another --out): their finished runs join this file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    recipe = yaml.safe_load(args.recipe.read_text()) if args.recipe else {}
    results = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    results.setdefault("recipes", {})
    if "recipe" in results:  # files written before per-name recipes: their one recipe belongs to every earlier run
        old = results.pop("recipe")
        results["recipes"].update({n: old for n in {_name(r) for r in results["runs"]} if n not in results["recipes"]})
    results.update({"published": PUBLISHED,
                    "protocol": "CodiEsp official split; train on train, dev for early stopping (dev MAP), C and threshold; test once",
                    "machine": {"cores": os.cpu_count(), "threads": args.threads, "jobs": args.jobs,
                                "platform": platform.platform()}})  # fmt: skip

    def save() -> None:
        results.update({"summary": summarize(results), "date": datetime.now().isoformat(timespec="seconds")})
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, default=str))

    if args.summarize_only:
        save()
        return 0
    for other in args.merge:  # runs of a parallel invocation; its recipes come along, the same (name, seed) is replaced
        theirs = json.loads(other.read_text())
        ok = [r for r in theirs["runs"] if r["error"] is None]
        keys = {(_name(r), r["seed"]) for r in ok}
        results["runs"] = [r for r in results["runs"] if (_name(r), r["seed"]) not in keys] + ok
        results["recipes"].update({n: theirs.get("recipes", {}).get(n, recipe) for n, _ in keys})
        print(f"merged {len(ok)} finished run(s) from {other}", flush=True)
        save()
    if results.get("baseline") is None:
        results["baseline"] = run_baseline(recipe)
        print(f"tfidf_lr: test MAP {results['baseline']['test']['map']:.3f}", flush=True)
        save()
    if args.baseline_only:
        return 0
    if args.name and len(args.models) > 1:
        parser.error("--name labels one model's runs; give one --models with it")
    names = {m: args.name or m for m in args.models}
    done = {(_name(r), r["seed"]) for r in results["runs"] if r["error"] is None}
    todo = [] if args.serve else [(m, s) for m in args.models for s in args.seeds if (names[m], s) not in done]
    if todo:
        results["recipes"].update({n: recipe for n in names.values()})
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_medrnn, m, names[m], s, recipe, args.threads) for m, s in todo]
        for future in as_completed(futures):
            row = future.result()
            results["runs"] = [r for r in results["runs"] if (_name(r), r["seed"]) != (row["name"], row["seed"])] + [row]
            print(f"{row['name']} seed {row['seed']}: " + (row["error"] or f"test MAP {row['test']['map']:.3f}"), flush=True)
            save()
    served_names = dict.fromkeys(names.values()) if todo or args.serve else {}  # nothing new trained: the ensemble stands
    for name in served_names:  # serve this recipe's seeds as one model, when their artifacts were kept
        seeds = sorted(r["seed"] for r in results["runs"] if _name(r) == name and r["error"] is None)
        served = served_ensemble(name, seeds)
        if served:
            results.setdefault("served_ensembles", {})[name] = served
            shown = f"test MAP {served['map']:.3f} (all gold {served['map_all_gold']:.3f})"
            print(f"{name}: served ensemble of seeds {seeds}: {shown}", flush=True)
            save()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
