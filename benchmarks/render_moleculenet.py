"""Markdown tables for docs/benchmarks.md from benchmarks/results/moleculenet.json.

Run:  python benchmarks/render_moleculenet.py [--input PATH] > /tmp/tables.md
Prints: scores on each dataset's recommended split (mean ± std over seeds, with MoleculeNet's published figure),
the other-split table (bbbp random, tox21 scaffold), median timings, and any failed runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from medrnn.tasks.molecules.spec import MOLECULENET

RESULTS = Path(__file__).parent / "results" / "moleculenet.json"
LABELS = {"medrnn": "medrnn (chosen on validation)", "chemprop": "chemprop D-MPNN", "rf": "RF (ECFP4)",
          "medrnn_plain": "medrnn plain", "medrnn_lm": "medrnn LM-pretrained", "medrnn_ens": "medrnn ensemble (plain + LM)",
          "medrnn_lm_canon": "medrnn LM-pretrained, canonical SMILES", "medrnn_lm_long": "medrnn LM-pretrained, 150 epochs",
          "medrnn_lm_seeds": "medrnn LM seed ensemble", "medrnn_desc": "medrnn + RDKit descriptors",
          "medrnn_lm_desc": "medrnn LM-pretrained + RDKit descriptors", "medrnn_plateau": "medrnn plain, LR plateau",
          "medrnn_lm_ecfp": "medrnn LM-pretrained + RDKit descriptors + ECFP4"}  # fmt: skip
MODELS = tuple(LABELS)  # the table's columns, in this order
METRIC = {"roc_auc": "ROC-AUC ↑", "rmse": "RMSE ↓"}


def thread_counts(results: dict[str, Any]) -> str:
    """The CPU thread counts the runs recorded, e.g. '1/2' (the machine block holds only the last writer's)."""
    counts = sorted({int(r["threads"]) for r in results.get("runs", []) if r.get("threads")})
    return "/".join(map(str, counts)) or "?"


def cell(mean: float | None, std: float | None, n: int) -> str:
    """'0.912 ± 0.013 (3)', or '–' when nothing ran."""
    if mean is None:
        return "–"
    spread = f" ± {std:.3f}" if std is not None else ""
    return f"{mean:.3f}{spread} ({n})"


def verdict(metric: str, medrnn: float | None, chemprop: float | None) -> str:
    """Whether medrnn is at least as good as chemprop (higher ROC-AUC, or lower RMSE)."""
    if medrnn is None or chemprop is None:
        return "–"
    better = medrnn >= chemprop if metric == "roc_auc" else medrnn <= chemprop
    return "yes" if better else "no"


def score_table(results: dict[str, Any], prefix: str, other: bool) -> list[str]:
    means, stds, seeds = results.get(prefix, {}), results.get(f"{prefix}_std", {}), results.get(f"{prefix}_seeds", {})
    head = ["dataset", "split", "metric", *(LABELS[m] for m in MODELS), "MoleculeNet (Wu 2018)", "medrnn ≥ chemprop",
            "medrnn ≥ best peer (chemprop, RF)"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, row in means.items():
        name = key.rsplit("-", 1)[0] if other else key  # other-split keys are 'bbbp-random'
        spec = MOLECULENET.get(name)
        if spec is None:
            continue
        split = row.get("split", spec.split)
        cells = [cell(row.get(m), stds.get(key, {}).get(m), seeds.get(key, {}).get(m, 0)) for m in MODELS]
        published = "–" if other else f"{spec.published:.3f}"  # the published figure is for the recommended split
        lines.append(f"| {name} | {split} | {METRIC.get(row['metric'], row['metric'])} | " + " | ".join(cells)
                     + f" | {published} | {verdict(row['metric'], row.get('medrnn'), row.get('chemprop'))}"
                     + f" | {verdict(row['metric'], row.get('medrnn'), row.get('best_peer'))} |")  # fmt: skip
    return lines


def _seed_ensemble_note(results: dict[str, Any]) -> list[str]:
    """A sentence giving the seed ensemble's size and cost, when any ran."""
    runs = [r for r in results.get("runs", []) if r["model"] == "medrnn_lm_seeds" and r.get("error") is None]
    if not runs:
        return []
    sizes = sorted({len(r["members"]) for r in runs})
    return [" LM seed ensemble: the mean of " + "/".join(map(str, sizes)) + " trainings of the LM-pretrained recipe on the "
            "same split, differing only in model seed (benchmarks/moleculenet_seed_ensemble.py); it costs that many trainings."]


def median_or_dash(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f}" if values else "–"


def timing_table(results: dict[str, Any]) -> list[str]:
    """Median over seeds (recommended split) of train seconds and seconds per epoch, per model and dataset."""
    runs = [r for r in results.get("runs", []) if r.get("error") is None and r["dataset"] in MOLECULENET
            and r["split"] == MOLECULENET[r["dataset"]].split]  # fmt: skip
    head = ["dataset", "n_train", "medrnn plain train s", "s/epoch (epochs)", "medrnn LM-pretrained s/epoch (epochs)", "chemprop train s",
            "chemprop s/epoch (epochs)", "RF train s"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in MOLECULENET:
        mine = [r for r in runs if r["dataset"] == name]
        if not mine:
            continue
        n_train = median_or_dash([r["n_train"] for r in mine], 0)
        cells = [name, n_train, median_or_dash(_pick(mine, "medrnn", "train_seconds")), _per_epoch(mine, "medrnn"),
                 _per_epoch(mine, "medrnn_lm"), median_or_dash(_pick(mine, "chemprop", "train_seconds")), _per_epoch(mine, "chemprop"),
                 median_or_dash(_pick(mine, "rf", "train_seconds"))]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _pick(runs: list[dict[str, Any]], model: str, field: str) -> list[float]:
    return [r[field] for r in runs if r["model"] == model and r.get(field) is not None]


def _per_epoch(runs: list[dict[str, Any]], model: str) -> str:
    """'3.13 (50)': median seconds per epoch (median epochs run)."""
    spe, epochs = _pick(runs, model, "seconds_per_epoch"), _pick(runs, model, "epochs")
    return f"{median_or_dash(spe, 2)} ({median_or_dash(epochs, 0)})" if spe else "–"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the MoleculeNet benchmark tables (markdown) for docs/benchmarks.md.")
    parser.add_argument("--input", type=Path, default=RESULTS, help="results JSON written by benchmarks/moleculenet.py")
    args = parser.parse_args(argv)
    if not args.input.exists():
        raise SystemExit(f"{args.input}: not found; run benchmarks/moleculenet.py first")
    results = json.loads(args.input.read_text())
    machine = results.get("machine", {})
    out = ["### Test scores, MoleculeNet's recommended split (mean ± std over seeds, (n seeds))", "",
           *score_table(results, "summary", other=False), "",
           "MoleculeNet (Wu et al. 2018): best model reported there, on its own splits; RMSE in target units. "
           "medrnn ≥ chemprop: medrnn at least as good (higher ROC-AUC, or lower RMSE). medrnn (chosen on validation): "
           "for each split, whichever medrnn candidate (plain, LM-pretrained, the mean of the two, and where they ran the LM "
           "recipe on canonical SMILES, with 150 epochs, its seed ensemble, with RDKit descriptors, with descriptors + ECFP4 "
           "bits, and the plain recipe with an LR plateau schedule) had the lowest validation loss; test never "
           "chooses. Where a candidate did not run, the choice is among those that did.", *_seed_ensemble_note(results), "",
           "### The other split", "", *score_table(results, "summary_other_split", other=True), "",
           f"### Training time (medians over seeds; {machine.get('cpus_usable', '?')} CPU cores, "
           f"{thread_counts(results)} thread(s) per model as each run recorded, {machine.get('processor', '')})", "",
           *timing_table(results), "",
           "medrnn: Lightning fit incl. per-epoch validation (LM-pretrained: fine-tuning only, the cached LM excluded). "
           "chemprop: Trainer set-up to the end of fit (training + "
           "validation each epoch; excludes featurisation and test prediction). RF: forest fitting (fingerprints excluded)."]  # fmt: skip
    failed = [r for r in results.get("runs", []) if r.get("error")]
    if failed:
        out += ["", "### Failed runs", ""]
        out += [f"- {r['dataset']}/{r['split']} {r['model']} seed {r['seed']}: {r['error'].splitlines()[0]}" for r in failed]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
