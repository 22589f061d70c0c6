"""Transfer learning, measured: learning curves from scratch vs from a pretrained encoder, same seeds, same test set.

Each target is a `medrnn train` run at several shares of its training labels (`--train-fraction`), once from random
weights and once `--init-from` the source; validation and test are the full ones at every share. Sources:
- molecules: the SMILES language model (`medrnn pretrain smiles --data TARGET`: every MoleculeNet molecule outside the
  target dataset, no labels) -> BBBP, BACE (scaffold splits) and Tox21 SR-p53 (random split).

    python benchmarks/transfer.py                                   # all targets, 5 fractions, 3 seeds
    python benchmarks/transfer.py --targets bbbp --fractions 0.1,1 --seeds 0

The same figures with the CLI, per target, fraction F and seed S:
    medrnn pretrain smiles --data bbbp --out runs/lm-bbbp
    medrnn train smiles --data bbbp --train-fraction F --seed S --max-epochs 30 --out runs/bbbp-scratch-F-S
    medrnn train smiles --data bbbp --train-fraction F --seed S --max-epochs 30 --init-from runs/lm-bbbp --out runs/bbbp-lm-F-S
Writes benchmarks/results/transfer.json after every run (a stopped benchmark keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "transfer.json"
TARGETS: dict[str, dict[str, Any]] = {
    "bbbp": {"task": "molecules", "set": {"data.data": "bbbp"}},
    "bace": {"task": "molecules", "set": {"data.data": "bace"}},
    "tox21-sr-p53": {"task": "molecules", "set": {"data.data": "tox21", "data.targets": ["SR-p53"]}},
}
FRACTIONS = (0.01, 0.05, 0.1, 0.25, 1.0)
SPLIT = "each dataset's default split (MoleculeNet's: scaffold for BBBP and BACE, random for Tox21), full validation and test"


def config_for(target: str, fraction: float, seed: int, max_epochs: int, init_from: Path | None) -> Any:
    """The target's default recipe with the share, seed, epoch cap and (for transfer) the source."""
    from medrnn.cli.overrides import set_field, validate
    from medrnn.tasks.base import get_task

    spec = TARGETS[target]
    task = get_task(spec["task"])
    raw = task.config_class().model_dump(mode="json")
    for key, value in spec["set"].items():
        set_field(raw, key, value)
    raw["train"].update({"seed": seed, "max_epochs": max_epochs, "train_fraction": fraction, "explain": 0,
                         "init_from": str(init_from) if init_from else None})  # fmt: skip
    return task, validate(task.config_class, raw, f"transfer benchmark {target}")


def source_for(target: str, work: Path) -> Path:
    """The pretrained source of a target (made once; the language model itself is cached by medrnn)."""
    from medrnn.tasks.base import get_task

    out = work / f"lm-{target}"
    if not (out / "model" / "artifact.json").exists():
        task, cfg = config_for(target, 1.0, 0, 1, None)
        get_task(task.name).pretrain(cfg, out)
    return out


def headline(run: Path) -> tuple[str, float, list[float] | None]:
    """The run's headline test metric, its value and 95 % CI."""
    m = json.loads((run / "metrics.json").read_text())
    name = m["test"]["headline"]
    ci = m["test"].get("ci", {})
    return name, float(m["test"]["overall"][name]), ci.get(f"overall.{name}", ci.get(name))


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per target: mean metric over seeds at each fraction for scratch and transfer, and the gain at 10 %."""
    out: dict[str, Any] = {}
    for target in dict.fromkeys(r["target"] for r in runs):
        mine = [r for r in runs if r["target"] == target]
        curve: dict[str, dict[str, float]] = {"scratch": {}, "transfer": {}}
        for mode in curve:
            for f in sorted({r["fraction"] for r in mine}):
                values = [r["value"] for r in mine if r["mode"] == mode and r["fraction"] == f]
                if values:
                    curve[mode][str(f)] = round(statistics.mean(values), 4)
        gain = None
        if "0.1" in curve["scratch"] and "0.1" in curve["transfer"]:
            gain = round(curve["transfer"]["0.1"] - curve["scratch"]["0.1"], 4)
        out[target] = {"metric": mine[0]["metric"], **curve, "gain_at_10pct": gain,
                       "seeds": sorted({r["seed"] for r in mine})}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--fractions", default=",".join(map(str, FRACTIONS)))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--work", type=Path, default=Path("/tmp/medrnn-transfer"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from medrnn.train.run import run_task

    fractions = [float(f) for f in args.fractions.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    doc: dict[str, Any] = {"command": " ".join(["python", *sys.argv]), "date": datetime.now(timezone.utc).isoformat(),
                           "machine": machine(), "config": {"fractions": fractions, "seeds": seeds, "max_epochs": args.max_epochs,
                           "targets": {t: TARGETS[t] for t in args.targets.split(",")}, "transfer": "--init-from the source, "
                           "no freezing (full fine-tuning)", "split": SPLIT},
                           "runs": [], "summary": {}}  # fmt: skip
    if args.out.exists():  # go on from a stopped benchmark: runs already measured with the same settings are kept
        old = json.loads(args.out.read_text())
        if old.get("config", {}).get("max_epochs") == args.max_epochs:
            doc["runs"] = old.get("runs", [])
    done = {(r["target"], r["mode"], r["fraction"], r["seed"]) for r in doc["runs"]}
    for target in args.targets.split(","):
        source = source_for(target, args.work)
        for fraction in fractions:
            for seed in seeds:
                for mode in ("scratch", "transfer"):
                    if (target, mode, fraction, seed) in done:
                        continue
                    task, cfg = config_for(target, fraction, seed, args.max_epochs, source if mode == "transfer" else None)
                    run = args.work / f"{target}-{mode}-{fraction}-{seed}"
                    t0 = time.perf_counter()
                    run_task(task, cfg, run, progress=False, overwrite=True)
                    metric, value, ci = headline(run)
                    doc["runs"].append({"target": target, "mode": mode, "fraction": fraction, "seed": seed, "metric": metric,
                                        "value": value, "ci": ci, "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
                    doc["summary"] = summarise(doc["runs"])
                    args.out.write_text(json.dumps(doc, indent=1))
                    print(target, mode, fraction, seed, metric, round(value, 4), flush=True)
    return 0


def render(path: Path = RESULTS) -> str:
    """The docs/benchmarks.md block (`transfer`) from results/transfer.json."""
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    lines = []
    for target, s in d["summary"].items():
        fractions = sorted(set(s["scratch"]) | set(s["transfer"]), key=float)
        lines += [f"**{target}** ({s['metric']}, test, mean of seeds {s['seeds']}); gain at 10 % labels: {s['gain_at_10pct']}", "",
                  "| labels | " + " | ".join(f"{float(f):.0%}" for f in fractions) + " |", "|---|" + "---|" * len(fractions)]  # fmt: skip
        for mode in ("scratch", "transfer"):
            lines.append(f"| {mode} | " + " | ".join(f"{s[mode][f]:.3f}" if f in s[mode] else "–" for f in fractions) + " |")
        lines.append("")
    m = d["machine"]
    lines.append(f"Command: `{d['command'].strip()}`; {d['config']['transfer']}; {d['config']['split']}; max {d['config']['max_epochs']} "
                 f"epochs; {m['cores']} cores ({m['cpu']}); date {d['date'][:10]}.")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
