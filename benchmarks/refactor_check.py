"""Issue #16's check that the one-contract refactor kept every headline figure: seed 0 of each world's headline
configuration re-run through the new path (`medrnn.train.run`, the Task hooks), beside the figure recorded before
the refactor in benchmarks/results/*.json.

    python benchmarks/refactor_check.py                       # every world (about 40 min on 2 CPU cores)
    python benchmarks/refactor_check.py --worlds ecg_beats    # one world

Writes benchmarks/results/refactor_check.json after each world (a stopped run loses nothing); `summary` has one
entry per world: {"metric", "old", "new", "identical"}. Runs use the thread count of the recorded run, since CPU
reductions with another thread count may differ in the last bits.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
OUT = RESULTS / "refactor_check.json"
WORKDIR = Path.home() / ".cache" / "medrnn" / "bench" / "refactor_check"
sys.path.insert(0, str(ROOT))


def _record(file: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    runs = json.loads((RESULTS / file).read_text())["runs"]
    found = [r for r in runs if match(r)]
    if not found:
        raise SystemExit(f"{file}: no recorded run matches; cannot compare")
    return found[0]


def ecg_beats() -> dict[str, Any]:
    """MIT-BIH inter-patient, default lstm, seed 0 (benchmarks/mitdb_interpatient.py, 2 threads): jκ on DS2."""
    from medrnn.tasks.ecg_beats.config import BeatRunConfig
    from medrnn.train.run import run_task

    old = _record("mitdb_interpatient.json", lambda r: r["label"] == "lstm" and r["seed"] == 0)
    torch.set_num_threads(2)
    cfg = BeatRunConfig.model_validate(old["config"])
    result = run_task("ecg_beats", cfg, WORKDIR / "ecg_beats", progress=False)
    new = result.metrics["test"]
    same = all(new["overall"][k] == old[k] for k in ("jkappa", "macro_f1", "accuracy", "kappa"))
    return {"metric": "jkappa", "old": old["jkappa"], "new": new["overall"]["jkappa"],
            "identical": same and new["extras"]["confusion"] == old["confusion"] and new["per_label"] == old["per_class"],
            "command": "medrnn train mitdb --seed 0 --out runs/mitdb",
            "config": "benchmarks/mitdb_interpatient.py lstm recipe"}  # fmt: skip


def _molecules_recipe(recipe: str) -> dict[str, Any]:
    from medrnn.metrics.outputs import headline_score
    from medrnn.train.run import run_task
    from moleculenet_results import medrnn_config

    old = _record("moleculenet.json", lambda r: (r["dataset"], r["split"], r["model"], r["seed"]) == ("bbbp", "scaffold", recipe, 0))
    torch.set_num_threads(int(old["threads"]))
    result = run_task("molecules", medrnn_config(recipe, "bbbp", "scaffold", 0), WORKDIR / f"molecules-{recipe}", progress=False)
    pred = __import__("numpy").load(WORKDIR / f"molecules-{recipe}" / "predictions.npz")
    new = headline_score(pred["y_true"], pred["y_score"], "classification")
    return {"old": old["score"], "new": new, "identical": new == old["score"], "epochs": result.metrics["training"]["epochs"],
            "old_epochs": old["epochs"]}  # fmt: skip


def molecules() -> dict[str, Any]:
    """BBBP scaffold split, seed 0, 1 thread: the plain recipe (`medrnn train smiles --data bbbp`) and the LM-pretrained one
    (`--pretrain`), as benchmarks/moleculenet.py recorded them: test ROC-AUC."""
    recipes = {"plain": _molecules_recipe("medrnn"), "lm": _molecules_recipe("medrnn_lm")}
    return {"metric": "roc_auc (BBBP scaffold test, plain recipe; recipes has both)", "old": recipes["plain"]["old"],
            "new": recipes["plain"]["new"], "identical": all(r["identical"] for r in recipes.values()), "recipes": recipes,
            "command": "medrnn train smiles --data bbbp --seed 0 [--pretrain]"}  # fmt: skip


def icu_mortality() -> dict[str, Any]:
    """PhysioNet 2012 sets A+B+C, stratified 80/10/10, GRU-D, seed 0, 1 thread (benchmarks/physionet2012.py): test AUROC."""
    from medrnn.metrics.outputs import evaluate_outputs
    from medrnn.train.run import run_task
    from physionet2012 import config_for

    old = _record("physionet2012.json", lambda r: (r["protocol"], r["model"], r["seed"]) == ("split", "gru_d", 0))
    torch.set_num_threads(int(old["threads"]))
    run_task("icu_mortality", config_for("split", "gru_d", 0, None), WORKDIR / "icu_mortality", progress=False)
    pred = __import__("numpy").load(WORKDIR / "icu_mortality" / "predictions.npz")
    report = evaluate_outputs(pred["y_true"][:, 0], pred["y_score"][:, 0], ["In-hospital_death"], "binary", n_boot=0)
    new = report.per_label["In-hospital_death"]["auroc"]
    return {"metric": "auroc (PhysioNet 2012 test stays)", "old": old["auroc"], "new": new, "identical": new == old["auroc"],
            "command": "medrnn train icu --seed 0"}


def ehr_visits() -> dict[str, Any]:
    """MIMIC-IV demo, readmission_30d, RETAIN, seed 0, 1 thread (benchmarks/mimic_demo.py): test AUROC."""
    from mimic_demo import run_one

    cell = ("mimic4-demo", "readmission_30d", "retain", 0)
    old = _record("mimic_demo.json", lambda r: (r["dataset"], r["task"], r["model"], r["seed"]) == cell)
    torch.set_num_threads(1)
    row = run_one("mimic4-demo", "readmission_30d", "retain", 0, 1000)
    return {"metric": "auroc (MIMIC-IV demo test patients)", "old": old["auroc"], "new": row["auroc"],
            "identical": row["auroc"] == old["auroc"] and row["auprc"] == old["auprc"],
            "command": "medrnn train ehr --data mimic4-demo --task readmission_30d --seed 0"}  # fmt: skip


def icd_coding() -> dict[str, Any]:
    """CodiEsp-D, LAAT with evidence supervision, seed 0, 1 thread (benchmarks/codiesp.py): test MAP over the label set."""
    from codiesp import KEYS, run_medrnn  # noqa: F401

    old = _record("codiesp.json", lambda r: r["model"] == "laat" and r["seed"] == 0
                  and r.get("training", {}).get("evidence_supervision", {}).get("weight", 0) > 0)  # fmt: skip
    recipe = {k: v for k, v in old["config"].items() if k in ("data", "model", "train", "bootstrap", "evidence_documents")}
    row = run_medrnn("laat", "refactor-check-laat-evidence", 0, recipe, 1)
    if row.get("error"):
        raise RuntimeError(row["error"])
    return {"metric": "map (CodiEsp-D test, labels seen in train)", "old": old["test"]["map"], "new": row["test"]["map"],
            "identical": row["test"] == old["test"], "command": "medrnn train notes --seed 0"}


WORLDS: dict[str, Callable[[], dict[str, Any]]] = {"ecg_beats": ecg_beats, "molecules": molecules, "icu_mortality": icu_mortality,
                                                   "ehr_visits": ehr_visits, "icd_coding": icd_coding}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=list(WORLDS))
    args = parser.parse_args()
    for world in args.worlds:
        t0 = time.perf_counter()
        entry = WORLDS[world]()
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        # re-read: another process may be running other worlds
        results = json.loads(OUT.read_text()) if OUT.exists() else {"runs": {}, "summary": {}}
        results["runs"][world] = entry
        results["summary"][world] = {k: entry[k] for k in ("metric", "old", "new", "identical")}
        machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
        results.update({"date": date.today().isoformat(), "machine": machine,
                        "command": "python benchmarks/refactor_check.py"})  # fmt: skip
        OUT.write_text(json.dumps(results, indent=2))
        print(f"{world}: {entry['metric']} old {entry['old']} new {entry['new']} identical {entry['identical']} "
              f"({entry['seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
