"""benchmarks/results/moleculenet.json: runs merged under a lock, and the summary over seeds computed from them.

Shared by benchmarks/moleculenet.py (training runs) and benchmarks/moleculenet_ensemble.py (the recipes' ensemble).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.tasks.molecules.spec import MOLECULENET

RESULTS = Path(__file__).parent / "results" / "moleculenet.json"
# the runs' folders (checkpoints, logs, test predictions); the ensemble scripts read and add to the same folders
WORKDIR = Path.home() / ".cache" / "medrnn" / "bench" / "moleculenet"
MODELS = ("medrnn", "medrnn_lm", "medrnn_lm_canon", "medrnn_lm_long", "medrnn_desc", "medrnn_lm_desc", "medrnn_plateau",
          "medrnn_lm_ecfp", "rf", "chemprop")
# medrnn's two recipes: plain, and with the encoder first pretrained as a SMILES language model on every other MoleculeNet
# molecule (`pretrain.enabled`); ENSEMBLE is their mean, rebuilt from the two runs' checkpoints (moleculenet_ensemble.py).
# summary["medrnn"] takes, for each split, the candidate with the lowest validation loss (test never chooses); each
# candidate also stays in the summary by name ("medrnn_plain", "medrnn_lm", "medrnn_ens", "medrnn_lm_canon", ...).
# SEED_ENSEMBLE is the mean of K trainings of the LM recipe differing only in model seed (moleculenet_seed_ensemble.py).
# CANONICAL is the LM recipe fine-tuned on canonical SMILES only (no enumeration, no test-time averaging); LONG the LM
# recipe allowed 150 epochs instead of 50 (early stopping unchanged), for datasets whose best epoch was at the limit.
# DESC and LM_DESC are the plain and LM recipes with RDKit's 2-D descriptors fused before the head (data.descriptors);
# PLATEAU the default recipe trained to convergence: learning rate halved after 5 epochs without a better validation
# loss, early stopping after 15, at most 150 epochs (the default's 50-epoch cap stopped BBBP runs still improving).
# LM_ECFP fuses the molecule's 2,048 ECFP4 bits (the forest's input) and RDKit's descriptors before the head (LM recipe).
RECIPES = ("medrnn", "medrnn_lm")
CANONICAL = "medrnn_lm_canon"
LONG = "medrnn_lm_long"
ENSEMBLE = "medrnn_ens"
SEED_ENSEMBLE = "medrnn_lm_seeds"
DESC, LM_DESC, PLATEAU = "medrnn_desc", "medrnn_lm_desc", "medrnn_plateau"
LM_ECFP = "medrnn_lm_ecfp"
CANDIDATES = (*RECIPES, CANONICAL, LONG, DESC, LM_DESC, PLATEAU, LM_ECFP, ENSEMBLE, SEED_ENSEMBLE)
SUMMARY_MODELS = (*MODELS, ENSEMBLE, SEED_ENSEMBLE)
# each trained medrnn recipe as SmilesRunConfig overrides of the `medrnn train smiles` defaults
RECIPE_OVERRIDES: dict[str, dict[str, Any]] = {
    "medrnn": {},
    "medrnn_lm": {"pretrain": {"enabled": True}},
    CANONICAL: {"pretrain": {"enabled": True}, "data": {"augment": 0, "tta": 0}},
    LONG: {"pretrain": {"enabled": True}, "train": {"max_epochs": 150}},
    DESC: {"data": {"descriptors": "rdkit2d"}},
    LM_DESC: {"pretrain": {"enabled": True}, "data": {"descriptors": "rdkit2d"}},
    PLATEAU: {"train": {"max_epochs": 150, "lr_schedule": "plateau", "lr_patience": 5}},
    LM_ECFP: {"pretrain": {"enabled": True}, "data": {"descriptors": "rdkit2d+ecfp4"}},
}


def recipe_config(model: str) -> Any:
    """The SmilesRunConfig of a medrnn recipe: training (moleculenet.py) and rebuilding (the ensemble scripts) share it."""
    from medrnn.tasks.molecules.config import SmilesRunConfig

    if model not in RECIPE_OVERRIDES:
        raise ValueError(f"{model!r} is not a medrnn recipe; expected one of {list(RECIPE_OVERRIDES)}")
    return SmilesRunConfig.model_validate(RECIPE_OVERRIDES[model])


def medrnn_config(model: str, dataset: str, split_kind: str, seed: int, model_seed: int | None = None) -> Any:
    """A recipe's config for one benchmark split: MoleculeNet `dataset`, `split_kind` of SPLIT_SIZES drawn with `seed`, model
    seed `model_seed` (default `seed`: seed s = split seed s = model seed s; a seed ensemble's members differ in it only)."""
    config = recipe_config(model).model_copy(deep=True)
    config.data.data, config.data.split, config.data.split_sizes = dataset, split_kind, SPLIT_SIZES
    config.data.split_seed, config.train.seed = seed, seed if model_seed is None else model_seed
    return config


def validation_loss(y: np.ndarray, score: np.ndarray, task_type: str, scaler: Any) -> float:
    """The training loss on final predictions, over labelled entries: BCE of probabilities, or MSE in standardised units
    (`scaler`: the training split's Standardizer). The basis on which validation chooses among medrnn's candidates."""
    from medrnn.tasks.molecules.selection import loss_of_scores

    return loss_of_scores(y, score, task_type, scaler)


SPLIT_SIZES = (0.8, 0.1, 0.1)
# besides each dataset's recommended split, the other one where the literature reports both
EXTRA_SPLITS = {"bbbp": "random", "tox21": "scaffold"}


def run_key(run: dict[str, Any]) -> tuple[str, str, str, int]:
    return run["dataset"], run["split"], run["model"], int(run["seed"])


def finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _stats(scores: list[float]) -> tuple[float | None, float | None, int]:
    """(mean, sample std, n); mean None over no runs, std None under two."""
    if not scores:
        return None, None, 0
    return statistics.fmean(scores), (statistics.stdev(scores) if len(scores) > 1 else None), len(scores)


def chosen_on_validation(runs: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Per (dataset, split, seed): the medrnn candidate with the lowest validation loss.

    Where every candidate has val_loss_tta (validation loss of its final, test-time-averaged predictions: recorded at
    training, or by an ensemble script for runs made before), they all compare on it; elsewhere the trained recipes
    compare on best_val (the loss of the epoch kept). A split where one recipe alone ran keeps that one.
    """
    groups: dict[tuple[str, str, int], dict[str, dict[str, Any]]] = {}
    for run in runs:
        if run["model"] in CANDIDATES and run.get("error") is None:
            groups.setdefault((run["dataset"], run["split"], int(run["seed"])), {})[run["model"]] = run
    best: dict[tuple[str, str, int], dict[str, Any]] = {}
    for key, found in groups.items():
        if all(finite(r.get("val_loss_tta")) is not None for r in found.values()):
            best[key] = min(found.values(), key=lambda r: (r["val_loss_tta"], r["model"]))
            continue
        recipes = [r for m, r in found.items() if m in RECIPE_OVERRIDES and finite(r.get("best_val")) is not None]
        if recipes:
            best[key] = min(recipes, key=lambda r: (r["best_val"], r["model"]))
    return best


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Means, stds and counts over seeds: recommended split per dataset, and every other split run ('bbbp-random')."""
    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for name, spec in MOLECULENET.items():
        groups[(name, spec.split)] = {m: [] for m in SUMMARY_MODELS}
    for name, other in EXTRA_SPLITS.items():
        groups[(name, other)] = {m: [] for m in SUMMARY_MODELS}
    for run in runs:
        if run["dataset"] not in MOLECULENET:
            continue
        bucket = groups.setdefault((run["dataset"], run["split"]), {m: [] for m in SUMMARY_MODELS})
        score = finite(run.get("score")) if run.get("error") is None else None
        if score is not None and run["model"] in bucket:
            bucket[run["model"]].append(score)
    chosen = chosen_on_validation(runs)
    picks: dict[tuple[str, str], list[str]] = {}
    for (name, split, _), run in sorted(chosen.items()):
        if (name, split) in groups and finite(run.get("score")) is not None:
            groups[(name, split)].setdefault("chosen", []).append(run["score"])
            picks.setdefault((name, split), []).append(run["model"])
    out: dict[str, dict[str, Any]] = {k: {} for k in ("summary", "summary_std", "summary_seeds", "summary_other_split",
                                                      "summary_other_split_std", "summary_other_split_seeds")}  # fmt: skip
    for (name, split), scores in groups.items():
        spec = MOLECULENET[name]
        recommended = split == spec.split
        key, prefix = (name, "summary") if recommended else (f"{name}-{split}", "summary_other_split")
        head = {"metric": spec.metric} if recommended else {"metric": spec.metric, "split": split}
        stats = {m: _stats(scores.get(m, [])) for m in (*SUMMARY_MODELS, "chosen")}
        for i, suffix in enumerate(("", "_std", "_seeds")):  # "medrnn": the recipe validation chose per split
            # summary keys are the model names, except the plain recipe's ("medrnn" is the validation choice)
            named = {("medrnn_plain" if m == "medrnn" else m): stats[m][i] for m in SUMMARY_MODELS}
            out[f"{prefix}{suffix}"][key] = {**head, "medrnn": stats["chosen"][i], **named}
        out[prefix][key]["medrnn_recipes"] = picks.get((name, split), [])
        out[prefix][key].update(best_peer(out[prefix][key]))
    return out


def best_peer(row: dict[str, Any]) -> dict[str, Any]:
    """The better of chemprop and the random forest on a summary row (lower RMSE, higher ROC-AUC), and medrnn against it."""
    peers = {k: row[k] for k in ("chemprop", "rf") if row.get(k) is not None}
    if not peers:
        return {"best_peer": None, "best_peer_name": None, "medrnn_beats_best_peer": None}
    lower = row["metric"] == "rmse"
    name = (min if lower else max)(peers, key=peers.__getitem__)
    ours = row.get("medrnn")
    beats = None if ours is None else (ours < peers[name] if lower else ours > peers[name])
    return {"best_peer": peers[name], "best_peer_name": name, "medrnn_beats_best_peer": beats}


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Exclusive lock on the results file's folder (no lock file left in the repo), so pieces of the benchmark
    run in parallel never lose each other's runs."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def load_results(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"runs": []}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SystemExit(f"{path}: not valid JSON ({err}); fix or move it away, or pass another --out") from err


def save_results(path: Path, new_runs: list[dict[str, Any]], data: dict[str, Any], machine: dict[str, Any]) -> dict[str, Any]:
    """Merge `new_runs` (replacing same-key runs) and `data` into the file on disk, recompute the summary, write atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path):
        results = load_results(path)
        runs = {run_key(r): r for r in results.get("runs", [])}
        runs.update({run_key(r): r for r in new_runs})
        results.update({
            "benchmark": "moleculenet",
            "protocol": {
                "split_sizes": list(SPLIT_SIZES), "seeds": "seed s = split seed s = model seed s",
                "splits": "medrnn.data.splits.make_split (scaffold = balanced Bemis-Murcko, chemprop 1.x rule); "
                          "identical indices for all models",
                "score": "medrnn.metrics.outputs.headline_score: mean ROC-AUC over tasks (one-class test tasks skipped) "
                         "or mean RMSE in target units",
                "medrnn": "medrnn.train.run.fit_task('molecules') with its default config (summary: medrnn_plain)",
                "medrnn_lm": "the same with pretrain.enabled: encoder pretrained as a SMILES LM on the other MoleculeNet "
                             "datasets' molecules, then fine-tuned (summary: medrnn_lm); summary medrnn = per split the recipe "
                             "with the lower validation loss (val_loss_tta where every candidate has it, else best_val), recipes "
                             "chosen listed in medrnn_recipes ('medrnn' = the plain recipe)",
                "medrnn_lm_canon": "medrnn_lm fine-tuned on canonical SMILES only (data.augment 0, data.tta 0); a candidate "
                                   "for summary medrnn where it ran",
                "medrnn_lm_long": "medrnn_lm with train.max_epochs 150 (default 50; patience 15 unchanged); a candidate for "
                                  "summary medrnn where it ran",
                "medrnn_lm_seeds": "mean of K trainings of medrnn_lm on the same split differing only in model seed "
                                   "(benchmarks/moleculenet_seed_ensemble.py; members and K in the run record); a candidate "
                                   "for summary medrnn where it ran, compared on val_loss_tta",
                "medrnn_desc": "the default recipe with data.descriptors rdkit2d: RDKit's 2-D descriptors (winsorised, "
                               "standardised on train) joined to the encoder's features before the head; a candidate",
                "medrnn_lm_desc": "medrnn_lm with data.descriptors rdkit2d; a candidate for summary medrnn where it ran",
                "medrnn_plateau": "the default recipe with train.lr_schedule plateau (LR x0.5 after 5 epochs without a "
                                  "lower validation loss), max_epochs 150, patience 15; a candidate where it ran",
                "medrnn_lm_ecfp": "medrnn_lm with data.descriptors rdkit2d+ecfp4: RDKit's 2-D descriptors and the 2,048 "
                                  "ECFP4 bits (0/1) joined to the encoder's features before the head; a candidate where it ran",
                "rf": "scikit-learn RandomForest, 500 trees, 2048-bit ECFP4 (Morgan r=2), one forest per task, train split only",
                "chemprop": "chemprop 2.3.1 `chemprop train` CLI defaults (50 epochs, best val_loss checkpoint); "
                            "flags: -t, --splits-file, --pytorch-seed, --num-workers 0, --accelerator cpu",
                "timing": "train_seconds: medrnn = Lightning fit incl. validation each epoch; chemprop = Trainer set-up to end "
                          "of fit (epochs + validation; no featurisation/prediction); rf = forest fitting. "
                          "wall_seconds: the whole run incl. data preparation and test prediction",
            },
            # a run without chemprop installed keeps the version the chemprop runs recorded
            "machine": {**results.get("machine", {}), **{k: v for k, v in machine.items() if v != "not installed"}},
            "data": {**results.get("data", {}), **data},
            "runs": sorted(runs.values(), key=lambda r: (r["dataset"], r["split"], r["seed"], r["model"])),
        })  # fmt: skip
        results.update(summarize(results["runs"]))
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(results, indent=1, allow_nan=False))
        os.replace(tmp, path)
    return results
