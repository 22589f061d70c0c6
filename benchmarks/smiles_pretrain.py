"""What SMILES language-model pretraining buys: the default recipe vs the same with the encoder pretrained first.

For each dataset and seed (its MoleculeNet split, the benchmark's split indices), medrnn is fine-tuned with
`pretrain.enabled` (ELMo-style LM on every other MoleculeNet molecule: the target dataset's molecules are never in
the corpus), optionally frozen, and compared with the default-recipe run of benchmarks/moleculenet.py on the same
split and seed (read from benchmarks/results/moleculenet.json, so the baseline is not re-trained).

    python benchmarks/smiles_pretrain.py --datasets bace sider --seeds 0 1 2 --threads 1

Writes benchmarks/results/smiles_pretrain.json (resumable) with "summary": per dataset the paired means.
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from medrnn import paths
from medrnn.config import SmilesRunConfig
from medrnn.data.splits import make_split
from medrnn.io.smiles import read_smiles_csv
from medrnn.metrics.molecules import headline_score
from medrnn.tasks.molecules import MOLECULENET
from medrnn.train.molecules import fit_smiles_model

RESULTS = Path(__file__).parent / "results" / "smiles_pretrain.json"
BASELINE = Path(__file__).parent / "results" / "moleculenet.json"


def one(name: str, seed: int, freeze: bool, workdir: Path) -> dict[str, Any]:
    spec = MOLECULENET[name]
    table, _ = read_smiles_csv(paths.data_root() / spec.file, spec.targets, spec.smiles_column)
    split = make_split(spec.split, table.smiles, seed=seed)
    cfg = SmilesRunConfig.model_validate({"pretrain": {"enabled": True, "freeze": freeze}})
    fit = fit_smiles_model(table, split, spec.task_type, workdir / f"{name}-{seed}-freeze{int(freeze)}", cfg, seed=seed)
    score = headline_score(table.targets[split.test], fit.test_score, spec.task_type)
    return {"dataset": name, "seed": seed, "freeze": freeze, "metric": spec.metric, "score": score, "epochs": fit.epochs,
            "best_epoch": fit.best_epoch, "train_seconds": fit.train_seconds, "pretrain": fit.pretrain,
            "date": datetime.now().isoformat(timespec="seconds")}  # fmt: skip


def summarize(runs: list[dict[str, Any]], baseline: dict[tuple[str, int], float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted({r["dataset"] for r in runs}):
        for freeze in (False, True):
            mine = {r["seed"]: r["score"] for r in runs if r["dataset"] == name and r["freeze"] == freeze}
            seeds = sorted(s for s in mine if (name, s) in baseline)  # paired with a default-recipe run only
            if seeds:
                out[f"{name}{'-frozen' if freeze else ''}"] = {
                    "metric": MOLECULENET[name].metric, "seeds": seeds, "pretrained": statistics.fmean(mine[s] for s in seeds),
                    "default": statistics.fmean(baseline[(name, s)] for s in seeds)}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bace", "sider"], choices=sorted(MOLECULENET))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--freeze", action="store_true", help="also run with the pretrained layers frozen")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "medrnn" / "bench" / "pretrain")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    done = {(r["dataset"], r["seed"], r["freeze"]) for r in results["runs"]}
    for seed in args.seeds:
        for name in args.datasets:
            for freeze in (False, True) if args.freeze else (False,):
                if (name, seed, freeze) in done:
                    continue
                run = one(name, seed, freeze, args.workdir)
                print(f"{name} seed {seed} freeze {freeze}: {run['metric']} {run['score']:.4f} ({run['train_seconds']:.0f} s)", flush=True)
                results["runs"].append(run)
                base_runs = json.loads(BASELINE.read_text())["runs"]
                baseline = {(r["dataset"], r["seed"]): r["score"] for r in base_runs if r["model"] == "medrnn" and r.get("error") is None
                            and r["split"] == MOLECULENET[r["dataset"]].split}  # fmt: skip
                results.update({"summary": summarize(results["runs"], baseline), "recipe": SmilesRunConfig().model_dump(mode="json"),
                                "machine": {"threads": torch.get_num_threads(), "torch": torch.__version__}})  # fmt: skip
                args.out.parent.mkdir(parents=True, exist_ok=True)
                tmp = args.out.with_suffix(".tmp")
                tmp.write_text(json.dumps(results, indent=1))
                tmp.replace(args.out)


if __name__ == "__main__":
    main()
