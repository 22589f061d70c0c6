"""Applicability domain on MoleculeNet (issue #24, 2c): medrnn's default model and the ECFP4 forest scored separately on
the test molecules near to the training set (ECFP4 Tanimoto to the nearest training molecule >= 0.4: `in_domain`) and
far from it.

medrnn trains exactly as `medrnn train smiles --data D --seed S` (the CLI's defaults: D's recommended split, 80/10/10,
drawn with seed S) and its figures are that run's metrics.json `applicability_domain`; the forest (500 trees on ECFP4,
benchmarks/moleculenet_baselines.py) trains on the same training molecules and is scored by the same `domain_report`,
so both models see the same cut of the same test set.

    python benchmarks/applicability.py                                   # BBBP and BACE (scaffold splits), seeds 0-2
    python benchmarks/applicability.py --datasets esol freesolv --seeds 0 --threads 1

Written after every run to benchmarks/results/applicability.json (finished (dataset, seed) pairs are skipped);
`summary` per dataset: share_out_of_domain, medrnn_in_domain, medrnn_out_of_domain, medrnn_all and the same for rf.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine  # noqa: E402
from moleculenet_baselines import run_random_forest  # noqa: E402
from moleculenet_results import medrnn_config  # noqa: E402

from medrnn import paths  # noqa: E402
from medrnn.io.smiles import read_smiles_csv  # noqa: E402
from medrnn.records import MoleculeTable  # noqa: E402
from medrnn.tasks.molecules.decision import domain_report, part_metric  # noqa: E402
from medrnn.tasks.molecules.spec import MOLECULENET  # noqa: E402
from medrnn.tasks.molecules.splitfile import split_from_file  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "applicability.json"
WORKDIR = Path.home() / ".cache" / "medrnn" / "bench" / "applicability"
PARTS = ("in_domain", "out_of_domain", "all")
_TABLES: dict[str, tuple[MoleculeTable, int]] = {}


def read_table(name: str) -> tuple[MoleculeTable, int]:
    """A MoleculeNet dataset's table and its number of data rows, read once per process (every seed reuses it)."""
    if name not in _TABLES:
        spec = MOLECULENET[name]
        table, report = read_smiles_csv(paths.data_root() / spec.file, spec.targets, spec.smiles_column)
        _TABLES[name] = table, report.n_read
    return _TABLES[name]


def one_seed(name: str, seed: int, threads: int, workdir: Path) -> dict[str, Any]:
    """Train medrnn's default recipe on (name, seed) through run_task, then the forest on the same training molecules."""
    from medrnn.train.run import run_task

    spec = MOLECULENET[name]
    config = medrnn_config("medrnn", name, spec.split, seed)
    config.train.threads = threads
    start = time.perf_counter()
    result = run_task("molecules", config, workdir / f"{name}-seed{seed}", progress=False, overwrite=True)
    seconds = time.perf_counter() - start
    metric = part_metric(spec.task_type)
    saved = np.load(result.run_dir / "predictions.npz")
    medrnn = {**result.metrics["applicability_domain"], "all": metric(saved["y_true"], saved["y_score"]), "seconds": seconds}

    table, n_rows = read_table(name)
    split, _ = split_from_file(result.run_dir / "split.json", table.rows, n_rows)  # the run's own split, as `--split-file` reads it
    forest = run_random_forest(table, split, spec.task_type, seed, n_jobs=threads)
    y_test, test_smiles = table.targets[split.test], [table.smiles[i] for i in split.test]
    rf = {**domain_report(result.pipeline.domain, test_smiles, y_test, forest["test_score"], metric),
          "all": metric(y_test, forest["test_score"])}  # fmt: skip
    similarity = result.pipeline.domain.nearest(test_smiles)
    return {"dataset": name, "split": spec.split, "seed": seed, "metric": spec.metric,
            "n_train": len(split.train), "n_test": len(split.test), "median_nn_similarity": float(np.median(similarity)),
            "medrnn": medrnn, "rf": rf, "epochs": result.metrics["training"]["epochs"],
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}  # fmt: skip


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dataset, means over seeds: the share of test molecules out of the domain and each model's metric per part."""
    out: dict[str, Any] = {}
    for name in dict.fromkeys(r["dataset"] for r in runs):
        rows = sorted((r for r in runs if r["dataset"] == name), key=lambda r: r["seed"])
        row: dict[str, Any] = {"split": rows[0]["split"], "metric": rows[0]["metric"], "seeds": [r["seed"] for r in rows],
                               "share_out_of_domain": statistics.fmean(r["medrnn"]["n_out_of_domain"] / r["n_test"] for r in rows),
                               "median_nn_similarity": statistics.fmean(r["median_nn_similarity"] for r in rows)}  # fmt: skip
        for model in ("medrnn", "rf"):
            for part in PARTS:
                key = part if part == "all" else f"{part}_metric"
                values = [r[model][key] for r in rows if r[model].get(key) is not None]
                row[f"{model}_{part}"] = statistics.fmean(values) if values else None
        out[name] = row
    return out


def render(path: Path = RESULTS) -> str:
    """The docs/benchmarks.md block (`applicability`) from results/applicability.json."""
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())

    def f(x: float | None) -> str:
        return "–" if x is None else f"{x:.3f}"

    lines = ["| dataset | split | metric | seeds | test molecules out of domain | median nearest-neighbour similarity | "
             "medrnn in / out of domain | medrnn all | RF (ECFP4) in / out of domain | RF all |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, row in d["summary"].items():
        lines.append(f"| {name} | {row['split']} | {row['metric']} | {', '.join(map(str, row['seeds']))} | "
                     f"{row['share_out_of_domain']:.0%} | {row['median_nn_similarity']:.2f} | {f(row['medrnn_in_domain'])} / "
                     f"{f(row['medrnn_out_of_domain'])} | {f(row['medrnn_all'])} | {f(row['rf_in_domain'])} / "
                     f"{f(row['rf_out_of_domain'])} | {f(row['rf_all'])} |")  # fmt: skip
    m = d["machine"]
    lines += ["", "Means over the seeds listed, each column on its own (so `all` need not lie between the two parts). "
              "In domain: ECFP4 Tanimoto similarity to the nearest training molecule ≥ 0.4 "
              "(`in_domain` in every prediction). ROC-AUC averaged over labels with both classes in that part; RMSE in target "
              "units. medrnn is `medrnn train smiles --data D --seed S` (CLI defaults; the figures are its metrics.json "
              "`applicability_domain`).", "",
              "Commands: " + ", ".join(f"`{c}`" for c in d["commands"])
              + f"; {m['cores']} cores ({m['cpu']}), Python {m['python']}; date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)  # fmt: skip
    parser.add_argument("--datasets", nargs="+", default=["bbbp", "bace"], choices=sorted(MOLECULENET), metavar="NAME")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seed S = `--seed S`: split and weights")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for medrnn and the forest")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--workdir", type=Path, default=WORKDIR, help="scratch folder for the run folders")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs = previous.get("runs", [])
    done = {(r["dataset"], r["seed"]) for r in runs}
    command = "python benchmarks/applicability.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    commands = [c for c in previous.get("commands", []) if c != command] + [command]
    for name in args.datasets:
        for seed in args.seeds:
            if (name, seed) in done:
                continue
            runs.append(one_seed(name, seed, args.threads, args.workdir))
            result = {"commands": commands,
                      "protocol": "MoleculeNet recommended split per dataset, 80/10/10, seed S = split and weight seed; "
                                  "in domain = ECFP4 (radius 2, 2,048 bits) Tanimoto to the nearest training molecule >= 0.4",
                      "machine": machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "summary": summarize(runs), "runs": runs}  # fmt: skip
            args.out.write_text(json.dumps(result, indent=2))
            print(f"{name} seed {seed}: {json.dumps(result['summary'][name])}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
