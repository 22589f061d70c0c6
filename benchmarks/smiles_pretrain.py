"""What SMILES language-model pretraining buys: the default recipe vs the same with the encoder pretrained first.

For each dataset and seed (its MoleculeNet split, the benchmark's split indices), medrnn is fine-tuned with
`pretrain.enabled` (ELMo-style LM on every other MoleculeNet molecule: the target dataset's molecules are never in
the corpus), optionally frozen, and compared with the default-recipe run of benchmarks/moleculenet.py on the same
split and seed (read from benchmarks/results/moleculenet.json, so the baseline is not re-trained). `--canonical` adds
the LM-pretrained recipe fine-tuned on canonical SMILES only (augment 0, no test-time averaging), the enumeration
setting that was best for the plain recipe on BACE and ESOL (benchmarks/smiles_levers.py).

    python benchmarks/smiles_pretrain.py --datasets bace sider --seeds 0 1 2 --threads 1
    python benchmarks/smiles_pretrain.py --datasets bace --canonical --threads 1

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

from medrnn.metrics.outputs import headline_score
from medrnn.tasks.molecules.config import SmilesRunConfig
from medrnn.tasks.molecules.spec import MOLECULENET
from medrnn.train.run import fit_task

RESULTS = Path(__file__).parent / "results" / "smiles_pretrain.json"
BASELINE = Path(__file__).parent / "results" / "moleculenet.json"


# variant -> (freeze the pretrained layers, SMILES enumeration while training and test-time averaging)
VARIANTS = {"fine-tuned": (False, True), "frozen": (True, True), "canonical": (False, False)}


def variant_of(run: dict[str, Any]) -> str:
    """A run's variant; runs recorded before `augment` was kept trained with enumeration."""
    key = (run["freeze"], run.get("augment", 1) > 0)
    return next(name for name, value in VARIANTS.items() if value == key)


def one(name: str, seed: int, variant: str, workdir: Path) -> dict[str, Any]:
    spec = MOLECULENET[name]
    freeze, enumerate_smiles = VARIANTS[variant]
    data = {"data": name} if enumerate_smiles else {"data": name, "augment": 0, "tta": 0}
    cfg = SmilesRunConfig.model_validate({"pretrain": {"enabled": True, "freeze": freeze}, "data": data, "train": {"seed": seed}})
    folder = f"{name}-{seed}-freeze{int(freeze)}" + ("" if enumerate_smiles else "-canonical")
    fit = fit_task("molecules", cfg, workdir / folder)
    score = headline_score(fit.task.targets(fit.data, fit.split.test, fit.pipeline), fit.test_scores.values, spec.task_type)
    return {"dataset": name, "seed": seed, "freeze": freeze, "augment": cfg.data.augment, "tta": cfg.data.tta,
            "metric": spec.metric, "score": score, "epochs": fit.fit.epochs,
            "best_epoch": fit.fit.best_epoch, "train_seconds": fit.fit.seconds, "pretrain": fit.model_init["pretrain"],
            "date": datetime.now().isoformat(timespec="seconds")}  # fmt: skip


def summarize(runs: list[dict[str, Any]], baseline: dict[tuple[str, int], float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted({r["dataset"] for r in runs}):
        for variant in VARIANTS:
            mine = {r["seed"]: r["score"] for r in runs if r["dataset"] == name and variant_of(r) == variant}
            seeds = sorted(s for s in mine if (name, s) in baseline)  # paired with a default-recipe run only
            if seeds:
                out[name if variant == "fine-tuned" else f"{name}-{variant}"] = {
                    "metric": MOLECULENET[name].metric, "seeds": seeds, "pretrained": statistics.fmean(mine[s] for s in seeds),
                    "default": statistics.fmean(baseline[(name, s)] for s in seeds)}  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["bace", "sider"], choices=sorted(MOLECULENET))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--freeze", action="store_true", help="also run with the pretrained layers frozen")
    parser.add_argument("--canonical", action="store_true", help="also run fine-tuned on canonical SMILES only (no enumeration, no TTA)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "medrnn" / "bench" / "pretrain")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    done = {(r["dataset"], r["seed"], variant_of(r)) for r in results["runs"]}
    variants = ["fine-tuned", *(["frozen"] if args.freeze else []), *(["canonical"] if args.canonical else [])]
    for seed in args.seeds:
        for name in args.datasets:
            for variant in variants:
                if (name, seed, variant) in done:
                    continue
                run = one(name, seed, variant, args.workdir)
                print(f"{name} seed {seed} {variant}: {run['metric']} {run['score']:.4f} ({run['train_seconds']:.0f} s)", flush=True)
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
