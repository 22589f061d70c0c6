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
            "identical": same and new["confusion"] == old["confusion"] and new["per_class"] == old["per_class"],
            "command": "medrnn train mitdb --seed 0 --out runs/mitdb", "config": "benchmarks/mitdb_interpatient.py lstm recipe"}  # fmt: skip


WORLDS: dict[str, Callable[[], dict[str, Any]]] = {"ecg_beats": ecg_beats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worlds", nargs="+", default=list(WORLDS), choices=list(WORLDS))
    args = parser.parse_args()
    results = json.loads(OUT.read_text()) if OUT.exists() else {"runs": {}, "summary": {}}
    for world in args.worlds:
        t0 = time.perf_counter()
        entry = WORLDS[world]()
        entry["seconds"] = round(time.perf_counter() - t0, 1)
        results["runs"][world] = entry
        results["summary"][world] = {k: entry[k] for k in ("metric", "old", "new", "identical")}
        results.update({"date": date.today().isoformat(), "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
                        "command": "python benchmarks/refactor_check.py"})  # fmt: skip
        OUT.write_text(json.dumps(results, indent=2))
        print(f"{world}: {entry['metric']} old {entry['old']} new {entry['new']} identical {entry['identical']} ({entry['seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
