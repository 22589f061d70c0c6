"""Transfer learning, measured: learning curves from scratch vs from a pretrained encoder, same seeds, same test set.

Each target is a `medrnn train` run at several shares of its training labels (`--train-fraction`), once from random
weights and once `--init-from` the source; validation and test are the full ones at every share. Sources:
- molecules: the SMILES language model (`medrnn pretrain smiles --data TARGET`: every MoleculeNet molecule outside the
  target dataset, no labels) -> BBBP, BACE (scaffold splits) and Tox21 SR-p53 (random split).
- notes: word2vec on every CodiEsp-D training note (`medrnn pretrain notes`; the labelled share of a run is a subset)
  -> CodiEsp-D with random token embeddings otherwise (`--embeddings none`), the task's recipe (LAAT, up to 50 epochs).
- ECG: the CinC 2017 rhythm model (`medrnn train af`: 4,000 single-lead records, labels N/AF/other/noisy; proxy-task
  pretraining, no MIT-BIH record) -> MIT-BIH inter-patient beats (DS1 -> DS2); its conv front-end layers and forward
  LSTM move (same shapes), the backward LSTM and attention of the rhythm model have no place in the beat model; and the
  other way, the MIT-BIH beat model (`medrnn train mitdb`) -> CinC 2017 (its conv layers and forward LSTM move).

    python benchmarks/transfer.py                                   # all targets, 5 fractions, 3 seeds
    python benchmarks/transfer.py --targets bbbp --fractions 0.1,1 --seeds 0

The same figures with the CLI, per target, fraction F and seed S:
    medrnn pretrain smiles --data bbbp --out runs/lm-bbbp
    medrnn train smiles --data bbbp --train-fraction F --seed S --max-epochs 30 --out runs/bbbp-scratch-F-S
    medrnn train smiles --data bbbp --train-fraction F --seed S --max-epochs 30 --init-from runs/lm-bbbp --out runs/bbbp-lm-F-S
    medrnn pretrain notes --out runs/notes-w2v
    medrnn train notes --embeddings none --train-fraction F --seed S [--init-from runs/notes-w2v] --out runs/notes-F-S
    medrnn train af --out runs/af-cinc2017
    medrnn train mitdb --train-fraction F --seed S --init-from runs/af-cinc2017 --out runs/mitdb-af-F-S
    medrnn train mitdb --out runs/mitdb
    medrnn train af --train-fraction F --seed S --init-from runs/mitdb --out runs/af-mitdb-F-S
Runs on several processes share the records under --work/records (one file a run); each process gathers them into --out.
Writes benchmarks/results/transfer.json after every run (a stopped benchmark keeps what it measured).
"""

from __future__ import annotations

import argparse
import json
import os
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
    # the beat task's own epoch cap (15) and recipe; the source is a supervised run of another task
    "mitdb": {"task": "ecg_beats", "set": {}, "max_epochs": None, "source": {"task": "af_rhythm", "set": {}}},
    # the other direction: the MIT-BIH beat model (48 half-hour records, beat labels) -> CinC 2017 rhythm classes
    "cinc2017": {"task": "af_rhythm", "set": {}, "max_epochs": None, "source": {"task": "ecg_beats", "set": {}}},
    # scratch: random token embeddings; transfer: `medrnn pretrain notes` (word2vec on every training note, labelled or not)
    # MAP over every gold code (the official script's): the run's headline MAP counts only codes in its label set, which
    # shrinks with the labelled share, so it would not compare across fractions; code titles off (`--code-descriptions none`):
    # the curve measures what the labels teach, and its first cells were run before the titles existed
    "codiesp": {"task": "icd_coding", "set": {"data.embeddings": "none", "data.code_descriptions": "none"},
                "max_epochs": None, "metric": "map_all_gold"},
}
FRACTIONS = (0.01, 0.05, 0.1, 0.25, 1.0)
SPLIT = ("each dataset's default split (MoleculeNet's: scaffold for BBBP and BACE, random for Tox21; MIT-BIH: DS1 train with 4 "
         "records held out for validation, DS2 test; CinC 2017: the task's seeded stratified record split), full validation and test")


def config_for(target: str, fraction: float, seed: int, max_epochs: int, init_from: Path | None) -> Any:
    """The target's default recipe with the share, seed, epoch cap and (for transfer) the source."""
    from medrnn.cli.overrides import set_field, validate
    from medrnn.tasks.base import get_task

    spec = TARGETS[target]
    task = get_task(spec["task"])
    raw = task.config_class().model_dump(mode="json")
    for key, value in spec["set"].items():
        set_field(raw, key, value)
    epochs = spec.get("max_epochs", max_epochs) or raw["train"]["max_epochs"]
    raw["train"].update({"seed": seed, "max_epochs": epochs, "train_fraction": fraction, "explain": 0,
                         "init_from": str(init_from) if init_from else None})  # fmt: skip
    return task, validate(task.config_class, raw, f"transfer benchmark {target}")


def source_for(target: str, work: Path) -> Path:
    """The pretrained source of a target (made once; the language model itself is cached by medrnn)."""
    from medrnn.tasks.base import get_task

    source = TARGETS[target].get("source")
    if source is not None:  # a supervised run of another task (its default recipe, seed 0)
        from medrnn.cli.overrides import set_field, validate
        from medrnn.train.run import run_task

        out = work / f"source-{target}"
        if not (out / "RUN_COMPLETE").exists():
            task = get_task(source["task"])
            raw = task.config_class().model_dump(mode="json")
            for key, value in source["set"].items():
                set_field(raw, key, value)
            run_task(task, validate(task.config_class, raw, f"transfer source {target}"), out, progress=False, overwrite=True)
        return out
    out = work / f"lm-{target}"
    if not (out / "model" / "artifact.json").exists():
        task, cfg = config_for(target, 1.0, 0, 1, None)
        get_task(task.name).pretrain(cfg, out)
    return out


def headline(run: Path, metric: str | None = None) -> tuple[str, float, list[float] | None]:
    """The run's headline test metric (or `metric`), its value and 95 % CI."""
    m = json.loads((run / "metrics.json").read_text())
    name = metric or m["test"]["headline"]
    ci = m["test"].get("ci", {})
    return name, float(m["test"]["overall"][name]), ci.get(f"overall.{name}", ci.get(name))


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per target: mean metric over seeds at each fraction for scratch and transfer, and the gain at 10 %."""
    out: dict[str, Any] = {}
    for target in dict.fromkeys(r["target"] for r in runs):
        mine = [r for r in runs if r["target"] == target]
        curve: dict[str, dict[str, float]] = {"scratch": {}, "transfer": {}}
        counts: dict[str, dict[str, int]] = {"scratch": {}, "transfer": {}}
        for mode in curve:
            for f in sorted({r["fraction"] for r in mine}):
                values = [r["value"] for r in mine if r["mode"] == mode and r["fraction"] == f]
                if values:
                    curve[mode][str(f)] = round(statistics.mean(values), 4)
                    counts[mode][str(f)] = len(values)
        gain = None
        if "0.1" in curve["scratch"] and "0.1" in curve["transfer"]:
            gain = round(curve["transfer"]["0.1"] - curve["scratch"]["0.1"], 4)
        out[target] = {"metric": mine[0]["metric"], **curve, "gain_at_10pct": gain,
                       "seeds": sorted({r["seed"] for r in mine}), "runs_per_cell": counts}  # fmt: skip
    return out


def epochs_of(target: str, args: argparse.Namespace) -> int | None:
    """The epoch cap of a target's runs: its own (None: the task's default) or --max-epochs."""
    return TARGETS[target].get("max_epochs", args.max_epochs) if target in TARGETS else args.max_epochs


def gather(doc: dict[str, Any], records: Path, out: Path) -> None:
    """Every run record (of all processes) -> `out`, written atomically, with its summary."""
    runs = sorted((json.loads(p.read_text()) for p in records.glob("*.json")),
                  key=lambda r: (list(TARGETS).index(r["target"]) if r["target"] in TARGETS else 99, r["mode"], r["fraction"], r["seed"]))
    doc = {**doc, "runs": runs, "summary": summarise(runs)}
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, out)


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
    doc: dict[str, Any] = {"command": "python benchmarks/transfer.py  (targets may run in parallel processes: --targets)",
                           "date": datetime.now(timezone.utc).isoformat(),
                           "machine": machine(), "config": {"fractions": fractions, "seeds": seeds, "max_epochs": args.max_epochs,
                           "targets": TARGETS, "transfer": "--init-from the source, "
                           "no freezing (full fine-tuning)", "split": SPLIT},
                           "runs": [], "summary": {}}  # fmt: skip
    records = args.work / "records"
    records.mkdir(parents=True, exist_ok=True)
    if args.out.exists():  # go on from a stopped benchmark: runs already measured with the same settings are kept
        old = json.loads(args.out.read_text())
        for r in old.get("runs", []):
            path = records / f"{r['target']}-{r['mode']}-{r['fraction']}-{r['seed']}.json"
            if not path.exists() and r.get("max_epochs", old.get("config", {}).get("max_epochs")) == epochs_of(r["target"], args):
                path.write_text(json.dumps({"max_epochs": epochs_of(r["target"], args), **r}))
    for target in args.targets.split(","):
        source = source_for(target, args.work)
        for fraction in fractions:
            for seed in seeds:
                for mode in ("scratch", "transfer"):
                    path = records / f"{target}-{mode}-{fraction}-{seed}.json"
                    run = args.work / f"{target}-{mode}-{fraction}-{seed}"
                    wanted = TARGETS[target].get("metric")
                    if path.exists() and wanted and json.loads(path.read_text())["metric"] != wanted and (run / "RUN_COMPLETE").exists():
                        record = json.loads(path.read_text())  # a record of the headline metric: the wanted one, from its run
                        record["metric"], record["value"], record["ci"] = headline(run, wanted)
                        path.write_text(json.dumps(record))
                    if path.exists():
                        continue
                    task, cfg = config_for(target, fraction, seed, args.max_epochs, source if mode == "transfer" else None)
                    t0 = time.perf_counter()
                    run_task(task, cfg, run, progress=False, overwrite=True)
                    metric, value, ci = headline(run, wanted)
                    path.write_text(json.dumps({"target": target, "mode": mode, "fraction": fraction, "seed": seed, "metric": metric,
                                                "value": value, "ci": ci, "seconds": round(time.perf_counter() - t0, 1),
                                                "max_epochs": cfg.train.max_epochs, "source": str(source)}))  # fmt: skip
                    gather(doc, records, args.out)
                    print(target, mode, fraction, seed, metric, round(value, 4), flush=True)
    gather(doc, records, args.out)
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
        n_seeds = len(s["seeds"])
        for mode in ("scratch", "transfer"):
            counts = s.get("runs_per_cell", {}).get(mode, {})
            cells = [(f"{s[mode][f]:.3f}" + (f" ({counts[f]} seed)" if counts.get(f, n_seeds) < n_seeds else "")) if f in s[mode] else "–"
                     for f in fractions]  # fmt: skip
            lines.append(f"| {mode} | " + " | ".join(cells) + " |")
        lines.append("")
    m = d["machine"]
    lines.append(f"Command: `{d['command'].strip()}`; {d['config']['transfer']}; {d['config']['split']}; max {d['config']['max_epochs']} "
                 f"epochs for molecules, the task's own cap for ECG (15) and notes (50, patience 8); {m['cores']} cores ({m['cpu']}); "
                 f"date {d['date'][:10]}.")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
