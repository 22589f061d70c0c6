"""Training speed on HIV (41k molecules): medrnn's SMILES RNN vs chemprop 2.3.1's D-MPNN, seconds per epoch.

Both train on the identical scaffold split (seed 0, 32.9k training molecules) for a few epochs with the
same number of CPU threads; each model's time is its Lightning `Trainer.fit` (training epochs plus the
validation pass after each), divided by the epochs run. Start-up, featurisation/tokenisation and test
prediction are excluded for both. chemprop keeps its defaults except `--epochs` (it needs > 2 warm-up epochs).

    python benchmarks/moleculenet_speed.py --threads 1 --epochs 3 --repeats 2

Writes benchmarks/results/moleculenet_speed.json with "summary": {"medrnn_seconds_per_epoch",
"chemprop_seconds_per_epoch", "ratio"} (ratio = medrnn / chemprop; below 1 means medrnn is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from moleculenet_baselines import run_chemprop  # noqa: E402

from medrnn import paths  # noqa: E402
from medrnn.data.splits import Split, make_split  # noqa: E402
from medrnn.io.smiles import ReadReport, read_smiles_csv  # noqa: E402
from medrnn.tasks.molecules.config import SmilesRunConfig  # noqa: E402
from medrnn.tasks.molecules.spec import MOLECULENET  # noqa: E402
from medrnn.train.run import fit_task  # noqa: E402
from medrnn.transforms.smiles import tokenize  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "moleculenet_speed.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2, help="runs per model; the median is reported")
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "medrnn" / "bench" / "speed")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = MOLECULENET["hiv"]
    table, report = read_smiles_csv(paths.data_root() / spec.file, spec.targets, spec.smiles_column)
    split = make_split(spec.split, table.smiles, seed=0)
    lengths = np.array([len(tokenize(table.smiles[i])) for i in split.train])
    cfg = SmilesRunConfig.model_validate({"data": {"data": "hiv", "split": spec.split, "tta": 0},
                                          "train": {"max_epochs": args.epochs, "patience": args.epochs + 1, "seed": 0}})  # fmt: skip
    from medrnn.tasks.base import get_task

    data = get_task("molecules").load(cfg)
    runs = []
    for repeat in range(args.repeats):
        fit = fit_task("molecules", cfg, args.workdir / f"medrnn-{repeat}", data=data)
        if not np.array_equal(fit.split.train, split.train):
            raise SystemExit("the molecules task drew another HIV split than the one chemprop is given")
        runs.append({"model": "medrnn", "repeat": repeat, "epochs": fit.fit.epochs, "train_seconds": fit.fit.seconds,
                     "seconds_per_epoch": fit.fit.seconds / max(fit.fit.epochs, 1)})  # fmt: skip
        print(runs[-1], flush=True)
        write(args, runs, split, report, lengths, cfg)
        cp = run_chemprop(table, split, spec.task_type, 0, args.workdir / f"chemprop-{repeat}", args.threads,
                          extra_args=["--epochs", str(args.epochs)])  # fmt: skip
        runs.append({"model": "chemprop", "repeat": repeat, "epochs": cp["epochs"], "train_seconds": cp["train_seconds"],
                     "seconds_per_epoch": cp["seconds_per_epoch"]})  # fmt: skip
        print(runs[-1], flush=True)
        result = write(args, runs, split, report, lengths, cfg)
    print(json.dumps(result["summary"]))


def write(args: argparse.Namespace, runs: list[dict], split: Split, report: ReadReport, lengths: np.ndarray, cfg: SmilesRunConfig) -> dict:
    """Write what has been measured so far (a killed run keeps its finished repeats)."""
    times = {m: [r["seconds_per_epoch"] for r in runs if r["model"] == m] for m in ("medrnn", "chemprop")}
    med = {m: statistics.median(t) if t else None for m, t in times.items()}
    result = {
        "benchmark": "HIV training seconds per epoch, scaffold split seed 0",
        "date": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpu_count": os.cpu_count(), "threads": args.threads, "platform": platform.platform(), "torch": torch.__version__},
        "data": {"n_train": len(split.train), "n_val": len(split.val), "rows_rejected": len(report.rejected),
                 "train_tokens_median": float(np.median(lengths)), "train_tokens_max": int(lengths.max())},
        "config": {"medrnn": cfg.model.model_dump(), "medrnn_batch_size": cfg.train.batch_size, "chemprop": "CLI defaults, --epochs set"},
        "runs": runs,
        "summary": {"medrnn_seconds_per_epoch": med["medrnn"], "chemprop_seconds_per_epoch": med["chemprop"],
                    "ratio": med["medrnn"] / med["chemprop"] if med["medrnn"] and med["chemprop"] else None},
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
