"""Federated PhysioNet 2012 in-hospital mortality: centralised vs FedAvg vs FedProx vs each ICU unit alone, one common test set.

Sets A+B+C, the task's stratified 80/10/10 split by stay (seed = split = weights = batches), GRU-D with the task's default
recipe. Sites: the four ICU units (ICUType: CCU, CSRU, MICU, SICU). Every arm is scored on the same test stays; AUROC and
AUPRC with 1,000 bootstrap resamples by stay.

    centralised   `fit_task` on every training stay (early stopping on validation), as `medrnn train icu`
    fedavg        `federate(..., strategy=fedavg)`: --rounds rounds of --local-epochs on each site, Flower simulation
    fedprox       the same with FedProx (--mu)
    local:<unit>  `fit_task` on one unit's training and validation stays only (its own pipeline), scored on the common test
    dp:<eps>      FedAvg with DP-SGD (Opacus) on every site at target ε over all rounds, δ = 1/n per site (--dp-max-grad-norm)
    secagg        one round of FedAvg and of FedAvg under SecAgg+ from the same initial GRU-D: their global models compared

    nice python benchmarks/federated.py --seeds 0 --rounds 20 --local-epochs 1
    OMP_NUM_THREADS=1 python benchmarks/federated.py --seeds 0 --arms dp:1 dp:3 dp:8 secagg   # the privacy arms

Writes benchmarks/results/federated.json after every arm (resumable: finished arms are skipped). The summary's
centralised / FedAvg / FedProx / local-only means are over the seeds every one of those arms finished; `dp_auroc` is the
mean over the seeds its DP arm finished (listed in `dp_seeds`), next to the non-private FedAvg of the same seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from medrnn.data.splits import Split
from medrnn.federated import FederatedConfig
from medrnn.federated.simulate import federate
from medrnn.federated.sites import site_of_samples
from medrnn.metrics.outputs import evaluate_outputs
from medrnn.tasks.base import Task, TaskData, get_task
from medrnn.tasks.icu_mortality.config import IcuRunConfig
from medrnn.train.run import fit_task

RESULTS = Path(__file__).parent / "results" / "federated.json"
UNITS = ("CCU", "CSRU", "MICU", "SICU")
ARMS = ("fedavg", "centralised", *(f"local:{u}" for u in UNITS), "fedprox")
EPSILONS = ("1", "3", "8")
PRIVACY_ARMS = (*(f"dp:{e}" for e in EPSILONS), "secagg")


class FixedSplit:
    """The task with its split replaced (a site's training and validation stays, the common test stays)."""

    def __init__(self, task: Task, split: Split) -> None:
        self._task, self._split = task, split

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)

    def split(self, data: TaskData, config: Any) -> Split:
        """The fixed split, whatever the config says."""
        return self._split


def config_for(seed: int, max_epochs: int | None) -> IcuRunConfig:
    """The benchmarked ICU recipe (GRU-D, sets A-C, 80/10/10) at `seed`; no explanations (not measured here)."""
    train = {"seed": seed, "explain": 0, "progress": False, **({"max_epochs": max_epochs} if max_epochs else {})}
    return IcuRunConfig.model_validate({"data": {"sets": ["a", "b", "c"]}, "train": train})


def scored(y: np.ndarray, prob: np.ndarray, seed: int) -> dict[str, Any]:
    """AUROC / AUPRC with 95 % bootstrap CIs (1,000 resamples by stay)."""
    report = evaluate_outputs(y, prob, ["In-hospital_death"], "binary", n_boot=1000, seed=seed)
    row = report.per_label["In-hospital_death"]
    return {"auroc": row["auroc"], "auprc": row["auprc"], "auroc_ci": report.ci.get("In-hospital_death.auroc"),
            "auprc_ci": report.ci.get("In-hospital_death.auprc"), "n_test": int(len(y)), "n_pos": int(np.sum(y))}  # fmt: skip


def run_arm(arm: str, seed: int, data: TaskData, args: argparse.Namespace) -> dict[str, Any]:
    """Train and score one arm at `seed`; a failure is recorded, not raised."""
    task = get_task("icu_mortality")
    config = config_for(seed, args.max_epochs)
    record: dict[str, Any] = {"arm": arm, "seed": seed, "error": None}
    start = time.perf_counter()
    try:
        work = Path(tempfile.mkdtemp(prefix=f"fed-{arm.replace(':', '-')}-{seed}-", dir=args.workdir))
        if arm == "secagg":
            from medrnn.federated.secagg import compare_secagg  # noqa: PLC0415  (Flower's legacy workflow, this arm only)

            record.update(compare_secagg(task, config, data))
        elif arm in ("fedavg", "fedprox") or arm.startswith("dp:"):
            dp = {"dp_epsilon": float(arm.split(":")[1]), "dp_max_grad_norm": args.dp_max_grad_norm} if arm.startswith("dp:") else {}
            if dp:  # DP-SGD's noise on the mean gradient falls as 1/batch: the DP arms use --dp-batch-size (recorded)
                config = config.model_copy(update={"train": config.train.model_copy(update={"batch_size": args.dp_batch_size})})
                record["batch_size"] = args.dp_batch_size
            fed_config = FederatedConfig(sites="icutype", strategy="fedprox" if arm == "fedprox" else "fedavg", rounds=args.rounds,
                                         local_epochs=args.local_epochs, proximal_mu=args.mu, **dp)  # fmt: skip
            result = federate(task, config, fed_config, work / "run", data=data, say=print)
            if dp:
                metrics = json.loads((work / "run" / "metrics.json").read_text())
                record["dp"] = {site: {k: v[k] for k in ("epsilon", "delta", "noise_multiplier", "sample_rate", "steps_per_round")}
                                for site, v in metrics["federated"]["dp"]["sites"].items()}  # fmt: skip
            split = task.split(data, config)
            y, prob = task.targets(data, split.test, result.run.pipeline)[:, 0], result.run.test_scores.values[:, 0]
            record.update({"rounds": [{k: v for k, v in r.items()} for r in result.rounds], "sites": result.sites,
                           "config": fed_config.model_dump(mode="json")})  # fmt: skip
        else:
            split = task.split(data, config)
            if arm.startswith("local:"):
                where = site_of_samples(task, data, "icutype")
                unit = arm.split(":", 1)[1]
                split = Split(split.train[where[split.train] == unit], split.val[where[split.val] == unit], split.test)
                record.update({"n_train": int(len(split.train)), "n_val": int(len(split.val))})
            f = fit_task(FixedSplit(task, split), config, work, data=data)  # type: ignore[arg-type]
            y, prob = task.targets(data, split.test, f.pipeline)[:, 0], f.test_scores.values[:, 0]
            record.update({"epochs": f.fit.epochs, "best_epoch": f.fit.best_epoch, "best_val": f.fit.best_score})
        if arm != "secagg":
            record.update(scored(y, prob, seed))
    except Exception as err:  # noqa: BLE001  recorded; the benchmark goes on with the other arms
        traceback.print_exc()
        record["error"] = f"{type(err).__name__}: {err}"
    record["wall_seconds"] = time.perf_counter() - start
    record["date"] = datetime.now().isoformat(timespec="seconds")
    return record


def complete_seeds(runs: list[dict[str, Any]]) -> list[int]:
    """Seeds for which every arm finished: the summary averages over these only, so every arm has the same seeds."""
    ok = {(r["arm"], r["seed"]) for r in runs if r["error"] is None}
    return sorted(s for s in {r["seed"] for r in runs} if all((arm, s) in ok for arm in ARMS))


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's summary keys: mean AUROC per arm over the seeds every arm finished; local-only: the mean over units."""
    seeds = complete_seeds(runs)

    def mean(arm: str) -> float | None:
        values = [r["auroc"] for r in runs if r["arm"] == arm and r["error"] is None and r["seed"] in seeds]
        return statistics.fmean(values) if values else None

    local = {u: mean(f"local:{u}") for u in UNITS}
    done = [v for v in local.values() if v is not None]
    ok = [r for r in runs if r["error"] is None]
    dp_seeds = sorted({r["seed"] for r in ok if r["arm"] == "dp:8"})

    def dp_mean(eps: str) -> float | None:
        values = [r["auroc"] for r in ok if r["arm"] == f"dp:{eps}" and r["seed"] in dp_seeds]
        return statistics.fmean(values) if values else None

    nonprivate = [r["auroc"] for r in ok if r["arm"] == "fedavg" and r["seed"] in dp_seeds]
    secagg = [r for r in ok if r["arm"] == "secagg"]
    return {"centralised_auroc": mean("centralised"), "fedavg_auroc": mean("fedavg"), "fedprox_auroc": mean("fedprox"),
            "local_only_mean_auroc": statistics.fmean(done) if len(done) == len(UNITS) else None,
            "local_only_auroc": local, "dp_auroc": {e: dp_mean(e) for e in EPSILONS},
            "dp_nonprivate_fedavg_auroc": statistics.fmean(nonprivate) if nonprivate else None, "dp_seeds": dp_seeds,
            "secagg_equals_fedavg": all(r["equal_within_tolerance"] for r in secagg) if secagg else None,
            "secagg_max_abs_difference": max(r["max_abs_difference"] for r in secagg) if secagg else None,
            "seeds": seeds, "auroc_std_over_seeds": {arm: spread(runs, arm, seeds) for arm in ("centralised", "fedavg", "fedprox")},
            **communication(runs, seeds),
            "notes": {"dp_auroc": "FedAvg + DP-SGD on every site (target ε over all rounds, δ = 1/n per site), mean over dp_seeds; "
                                  "dp_nonprivate_fedavg_auroc is FedAvg without DP on the same seeds",
                      "secagg_equals_fedavg": "one round from the same initial GRU-D, FedAvg vs FedAvg under SecAgg+: every weight "
                                              "within the quantisation tolerance (medrnn.federated.secagg.compare_secagg)",
                      "local_only_mean_auroc": "null until every unit has run"}}  # fmt: skip


GRU_D_PARAMETERS = 34187  # parameters of the benchmarked GRU-D (hidden 64), as model_parameters() counts them


def model_parameters() -> int:
    """Parameters of the benchmarked model, built from the recipe on a small real subset (sizes do not depend on it)."""
    from medrnn.tasks.base import get_task

    task = get_task("icu_mortality")
    config = config_for(0, None)
    config = config.model_copy(update={"data": task.quick_config().data})
    data = task.load(config)
    split = task.split(data, config)
    model, _ = task.build_model(data, split, task.fit_pipeline(data, split, config), config)
    return sum(p.numel() for p in model.parameters())


def communication(runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Rounds until the global model first reaches 95 % of the same seed's centralised test AUROC, seconds per round, and
    bytes exchanged per round (every site receives the global float32 weights and sends its own back)."""
    central = {r["seed"]: r["auroc"] for r in runs if r["arm"] == "centralised" and r["error"] is None}
    out: dict[str, Any] = {"rounds_to_95pct_of_centralised": {}, "seconds_per_round": {}}
    for arm in ("fedavg", "fedprox"):
        reached, seconds = [], []
        for r in runs:
            if r["arm"] != arm or r["error"] is not None or r["seed"] not in seeds or r["seed"] not in central:
                continue
            hit = next((x["round"] for x in r["rounds"] if x.get("test-auroc", 0) >= 0.95 * central[r["seed"]]), None)
            reached.append(hit)
            seconds.append(r["wall_seconds"] / max(len(r["rounds"]), 1))
        out["rounds_to_95pct_of_centralised"][arm] = reached
        out["seconds_per_round"][arm] = round(statistics.median(seconds), 1) if seconds else None
    out["bytes_per_round"] = GRU_D_PARAMETERS * 4 * 2 * len(UNITS)
    return out


def spread(runs: list[dict[str, Any]], arm: str, seeds: list[int]) -> float | None:
    """Standard deviation of an arm's test AUROC over `seeds` (None for fewer than two)."""
    values = [r["auroc"] for r in runs if r["arm"] == arm and r["error"] is None and r["seed"] in seeds]
    return statistics.stdev(values) if len(values) > 1 else None


def save(runs: list[dict[str, Any]], data_info: dict[str, Any], args: argparse.Namespace) -> None:
    results = {"benchmark": "federated", "task": "icu_mortality", "model": "gru_d", "sites": "icutype (CCU, CSRU, MICU, SICU)",
               "protocol": "sets A+B+C, stratified 80/10/10 by stay, seed = split = weights; one common test set",
               "settings": {"rounds": args.rounds, "local_epochs": args.local_epochs, "mu": args.mu, "max_epochs": args.max_epochs,
                            "dp_max_grad_norm": getattr(args, "dp_max_grad_norm", 1.0),
                            "dp_batch_size": getattr(args, "dp_batch_size", 256)},
               "runs": runs, "data": data_info, "summary": summarize(runs),
               "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                           "note": args.machine_note}}  # fmt: skip
    tmp = RESULTS.with_name(RESULTS.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float))
    os.replace(tmp, RESULTS)


def render(path: Path = RESULTS) -> str:
    """The docs/benchmarks.md block (`python benchmarks/render_docs.py`): AUROC/AUPRC per arm, mean over the seeds."""
    if not path.exists():
        return "(not run yet)"
    d = json.loads(path.read_text())
    s, runs = d["summary"], [r for r in d["runs"] if r.get("error") is None]
    seeds = s.get("seeds") or []
    lines = ["| arm | AUROC (mean over seeds) | AUPRC | AUROC per seed |", "|---|---|---|---|"]
    for arm in dict.fromkeys(r["arm"] for r in runs if r["arm"] in ARMS):
        mine = [r for r in runs if r["arm"] == arm and r["seed"] in seeds]
        if mine:
            per = ", ".join(f"{r['auroc']:.3f}" for r in sorted(mine, key=lambda r: r["seed"]))
            lines.append(f"| {arm} | {np.mean([r['auroc'] for r in mine]):.3f} | {np.mean([r['auprc'] for r in mine]):.3f} | {per} |")
    st = d["settings"]
    lines += ["", f"Sites: {d['sites']}; {d['protocol']}; {st['rounds']} rounds × {st['local_epochs']} local epoch, FedProx mu "
                  f"{st['mu']}; seeds {', '.join(map(str, seeds))}.", ""]  # fmt: skip
    lines += [f"Rounds until the global model first reached 95 % of the centralised AUROC (per seed): "
              f"{s.get('rounds_to_95pct_of_centralised')}; seconds per round (median, the 2 shared cores): {s.get('seconds_per_round')}; "
              f"bytes exchanged per round: {s.get('bytes_per_round', 0) / 1e6:.2f} MB (4 sites × the {GRU_D_PARAMETERS:,} float32 weights, "
              "down and up).", ""]  # fmt: skip
    lines += render_privacy(s, runs, st)
    lines += ["",
              f"Command: `python benchmarks/federated.py --seeds {' '.join(map(str, seeds))}`; {d['machine']['cpu_count']} cores, "
              f"torch {d['machine']['torch']}; {d['machine'].get('note', '')}; date {max(r['date'] for r in runs)[:10]}."]  # fmt: skip
    return "\n".join(lines)


def render_privacy(s: dict[str, Any], runs: list[dict[str, Any]], st: dict[str, Any]) -> list[str]:
    """The DP-SGD table (AUROC per target ε, the ε each site's accountant reached) and the SecAgg+ check."""
    dp_seeds = s.get("dp_seeds") or []
    lines = ["| FedAvg + DP-SGD | AUROC | AUPRC | ε reached per site (δ = 1/n) | noise multiplier per site |", "|---|---|---|---|---|"]
    nonprivate = [r for r in runs if r["arm"] == "fedavg" and r["seed"] in dp_seeds]
    if nonprivate:
        auroc, auprc = np.mean([r["auroc"] for r in nonprivate]), np.mean([r["auprc"] for r in nonprivate])
        lines.append(f"| non-private | {auroc:.3f} | {auprc:.3f} | - | - |")
    for eps in EPSILONS:
        mine = [r for r in runs if r["arm"] == f"dp:{eps}" and r["seed"] in dp_seeds]
        if mine:
            sites = mine[0].get("dp", {})
            reached = ", ".join(f"{k} {v['epsilon']:.2f}" for k, v in sites.items())
            noise = ", ".join(f"{k} {v['noise_multiplier']:.2f}" for k, v in sites.items())
            auroc, auprc = np.mean([r["auroc"] for r in mine]), np.mean([r["auprc"] for r in mine])
            lines.append(f"| ε = {eps} | {auroc:.3f} | {auprc:.3f} | {reached} | {noise} |")
    secagg = [r for r in runs if r["arm"] == "secagg"]
    lines += ["", f"DP arms: seeds {', '.join(map(str, dp_seeds)) or 'none yet'}, batch {st.get('dp_batch_size', 256)} (Poisson), clipping "
                  f"norm {st.get('dp_max_grad_norm', 1.0)}, {st['rounds']} rounds; the non-private row is FedAvg (batch 64) on the same "
                  "seeds. `python benchmarks/federated.py --seeds 0 --arms dp:8 dp:3 dp:1 secagg`."]  # fmt: skip
    if secagg:
        r = secagg[0]
        lines.append(f"SecAgg+ vs FedAvg, {r['rounds']} round from the same GRU-D: largest weight difference {r['max_abs_difference']:.2g} "
                     f"(tolerance {r['tolerance']:.2g} = sites × 3c/Q, c = {r['clipping_range']:g}, Q = 2^22): equal within it: "
                     f"{s['secagg_equals_fedavg']}.")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=[*ARMS, *PRIVACY_ARMS])
    parser.add_argument("--dp-max-grad-norm", type=float, default=1.0)
    parser.add_argument("--dp-batch-size", type=int, default=256, help="batch size of the DP arms (the others: the task's, 64)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--local-epochs", type=int, default=1)
    parser.add_argument("--mu", type=float, default=0.01)
    parser.add_argument("--max-epochs", type=int, default=None, help="central and local-only runs (default: the task's, early stopping)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the central and local-only runs (sites: one each)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "medrnn-federated-bench")
    parser.add_argument("--machine-note", default="")
    parser.add_argument("--summarize-only", action="store_true", help="rewrite the summary of the runs already in the results file")
    args = parser.parse_args()
    if args.summarize_only:
        results = json.loads(RESULTS.read_text())
        kept = argparse.Namespace(**{**vars(args), **results["settings"], "machine_note": results["machine"]["note"]})
        save(results["runs"], results["data"], kept)
        return
    torch.set_num_threads(args.threads)
    args.workdir.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    if RESULTS.exists():
        runs = [r for r in json.loads(RESULTS.read_text()).get("runs", []) if r.get("error") is None]
    task = get_task("icu_mortality")
    data = task.load(config_for(0, None))
    for seed in args.seeds:
        for arm in args.arms:
            if any(r["arm"] == arm and r["seed"] == seed for r in runs):
                continue
            print(f"== {arm}, seed {seed}", flush=True)
            runs.append(run_arm(arm, seed, data, args))
            save(runs, {"stays": len(data)}, args)
            print(json.dumps({k: runs[-1].get(k) for k in ("arm", "seed", "auroc", "auprc", "error", "wall_seconds")}), flush=True)


if __name__ == "__main__":
    main()
