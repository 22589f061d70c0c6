"""Few-shot molecules on the Altae-Tran et al. 2017 protocol: Tox21 (first 9 assays meta-train, last 3 held out) and SIDER
(first 21 organ classes meta-train, last 6 held out); support = k positives + k negatives (k = 1, 5, 10); queries = every
other labelled molecule of the held-out task; 20 episodes per held-out task and k; ROC-AUC per episode, mean over episodes
with a 95 % percentile bootstrap interval (episodes resampled).

Methods, all scored on the same episodes:
    protonet               prototypical network, medrnn's SMILES biLSTM encoder meta-trained on the training tasks' episodes
    finetune               the same encoder pretrained multi-task on the training tasks, a new linear head fitted on the support
    pretrained_prototypes  prototypes over that multi-task encoder's features (no meta-training)
    rf_ecfp                random forest on ECFP4 fitted on the support only

    OMP_NUM_THREADS=1 python benchmarks/fewshot.py --data tox21 &   # one process per dataset; results merged under a lock
    OMP_NUM_THREADS=1 python benchmarks/fewshot.py --data sider &

Writes benchmarks/results/fewshot.json after every method (resumable per dataset: a finished dataset is skipped unless
--force), and fills the `fewshot` block of docs/fewshot.md.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "fewshot.json"
DOC = Path(__file__).parent.parent / "docs" / "fewshot.md"
SOURCE = ("Altae-Tran, Ramsundar, Pappu, Pande. Low Data Drug Discovery with One-Shot Learning. ACS Cent. Sci. 3:283-293 (2017), "
          "doi:10.1021/acscentsci.6b00367, PMC5408335")  # fmt: skip
# What was confirmed, and from where (see docs/fewshot.md). The paper's ROC-AUC tables could not be read through the
# search tool (its stored copies of PMC5408335 return only the opening of the article), so no published figure is quoted
# here: `published` stays null rather than a number from memory.
PROTOCOL = {
    "source": SOURCE,
    "confirmed_from": "DeepChem examples/low_data/{tox,sider}_*_one_fold.py and deepchem/splits/task_splitter.py (read in the "
                      "code index): TaskSplitter.k_fold_split(K=4), last fold held out -> Tox21 12 tasks: 9 train / 3 test; "
                      "SIDER 27 tasks: round(27/4)=7 per fold -> 21 train / 6 test; n_eval_trials=20; test_batch_size=128 is "
                      "the query batch size, the queries being every labelled molecule of the task minus the support "
                      "(get_task_dataset_minus_support); support n_pos=n_neg=10 (Tox21 script) and 1/1 (SIDER script)",
    "published": None,
    "published_note": "not confirmed: the ROC-AUC tables of PMC5408335 (RF, graph conv, Siamese, AttnLSTM, IterRefLSTM) were not "
                      "reachable through the search tool; fill them in from the paper's Tables 1-2 before comparing",
}  # fmt: skip


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside `path`, so two dataset processes merge their blocks without losing one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / f"medrnn-{path.stem}.lock", "w") as handle:  # not beside the results: nothing to commit
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def update(dataset: str, block: dict[str, Any], command: str) -> None:
    """Merge one dataset's block into the results file (atomically, under the lock) and recompute the summary."""
    with locked(RESULTS):
        d = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
        d["runs"][dataset] = block
        d.update(
            {
                "protocol": PROTOCOL,
                "machine": {**machine(), "torch": torch.__version__, "threads": torch.get_num_threads()},
                "commands": sorted({*d.get("commands", []), command}),
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        )
        d["summary"] = summary(d["runs"])
        tmp = RESULTS.with_suffix(".tmp")
        tmp.write_text(json.dumps(d, indent=1))
        tmp.replace(RESULTS)


def summary(runs: dict[str, Any]) -> dict[str, Any]:
    """Per benchmark and k: each method's mean ROC-AUC and CI, and the published figure beside it (null until confirmed)."""
    out: dict[str, Any] = {}
    for dataset, run in runs.items():
        for method, m in run.get("methods", {}).items():
            for k, row in m["per_k"].items():
                cell = out.setdefault(dataset, {}).setdefault(f"k={k}", {"published": PROTOCOL["published"]})
                cell[method] = {"roc_auc": row["roc_auc"], "ci": row["ci"], "episodes": row["episodes"]}
    return out


def render(path: Path = RESULTS) -> str:
    """The table of docs/fewshot.md (and the `fewshot` block of docs/benchmarks.md): ROC-AUC [95 % CI] per dataset and k."""
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    methods = ("protonet", "finetune", "pretrained_prototypes", "rf_ecfp")
    lines = ["| dataset | k (+/-) | " + " | ".join(methods) + " | published (Altae-Tran 2017) |", "|---|---|" + "---|" * (len(methods) + 1)]
    for dataset, cells in d["summary"].items():
        for k, cell in cells.items():
            shown = [f"{cell[m]['roc_auc']:.3f} [{cell[m]['ci'][0]:.3f}–{cell[m]['ci'][1]:.3f}]" if m in cell else "—" for m in methods]
            lines.append(f"| {dataset} | {k.removeprefix('k=')}/{k.removeprefix('k=')} | " + " | ".join(shown) + " | "
                         f"{cell['published'] if cell['published'] is not None else 'not confirmed'} |")  # fmt: skip
    lines += [""]
    for dataset, run in d["runs"].items():
        cfg, data = run["config"], run["data"]
        train = run.get("training", {})
        parts = []
        if "protonet" in train:
            parts.append(f"protonet {cfg['meta_steps']} meta-training episodes ({train['protonet']['seconds']} s)")
        if "multitask" in train:
            parts.append(f"multi-task pretraining {cfg['pretrain_epochs']} epochs ({train['multitask']['seconds']} s)")
        lines.append(f"- {dataset}: {data['molecules']} molecules; held out {', '.join(data['test_tasks'])}; {cfg['episodes']} episodes "
                     f"per held-out task and k (same episodes for every method); queries per episode ≈ "
                     f"{max(data['queries_per_episode_first_task'].values())}; {'; '.join(parts)}; seed {cfg['seed']}; "
                     f"status {run['status']}.")  # fmt: skip
    lines += ["", f"Commands: {'; '.join(f'`{c}`' for c in d['commands'])}; {d['machine']['cores']} cores ({d['machine']['cpu']}), "
                  f"torch {d['machine']['torch']}, {d['machine']['threads']} thread per process; date {d['date'][:10]}."]  # fmt: skip
    return "\n".join(lines)


def write_doc() -> None:
    """Fill the block between `<!-- fewshot:start -->` and `<!-- fewshot:end -->` of docs/fewshot.md."""
    if not DOC.exists():
        return
    text = DOC.read_text()
    pattern = re.compile(r"(<!-- fewshot:start -->\n).*?(<!-- fewshot:end -->)", re.S)
    DOC.write_text(pattern.sub(lambda m: m.group(1) + render().strip() + "\n" + m.group(2), text))


def main() -> int:
    from medrnn.fewshot.config import FewShotMoleculeConfig
    from medrnn.fewshot.molecules import MoleculeFewShot

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="tox21", choices=("tox21", "sider"))
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--meta-steps", type=int, default=1000)
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--hidden-size", type=int, default=64, help="encoder biLSTM hidden size (64: the 2-core budget)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=None, help="default: all (rf_ecfp finetune pretrained_prototypes protonet)")
    parser.add_argument("--name", default=None, help="key of this run in the results file (default: the dataset name)")
    parser.add_argument("--force", action="store_true", help="rerun a dataset already finished")
    parser.add_argument("--render", action="store_true", help="only fill docs/fewshot.md from the results file")
    args = parser.parse_args()
    if args.render:
        write_doc()
        return 0
    name = args.name or args.data
    done = json.loads(RESULTS.read_text())["runs"].get(name, {}) if RESULTS.exists() else {}
    if done.get("status") == "complete" and not args.force:
        print(f"{name}: already complete in {RESULTS} (--force to rerun)")
        return 0
    command = "OMP_NUM_THREADS=1 python benchmarks/fewshot.py " + " ".join(sys.argv[1:])
    config = FewShotMoleculeConfig(data=args.data, k=args.k, episodes=args.episodes, meta_steps=args.meta_steps,
                                   pretrain_epochs=args.pretrain_epochs, seed=args.seed,
                                   model={"hidden_size": args.hidden_size, "dropout": 0.1},
                                   **({"methods": args.methods} if args.methods else {}))  # fmt: skip
    start = time.perf_counter()
    run = MoleculeFewShot(config, log=True)
    base = {"config": config.model_dump(mode="json"), "status": "running"}

    def checkpoint(results: dict[str, Any]) -> None:
        update(name, {**base, **results, "seconds": round(time.perf_counter() - start, 1)}, command)
        write_doc()
        print(f"{name}: wrote {list(results['methods'])} to {RESULTS}", flush=True)

    results = run.run(checkpoint)
    base["status"] = "complete"
    checkpoint(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
