"""One federated run on Flower's simulation engine, written as an ordinary run folder.

read -> split (the task's own, before anything is fitted) -> pipeline -> sites -> Flower rounds -> the global model
calibrated and scored like any run (`score_fitted`, `write_run`) -> config.yaml, federated.yaml, metrics.json (with a
`federated` section: sites, rounds, per-site metrics), predictions.npz, model/, RUN_COMPLETE. `medrnn predict`,
`medrnn report` and the service use the folder unchanged.

Simplification: the pipeline (scalers, vocabularies) is fitted once on the union of the sites' training samples, as a
central run would; a real federation would fit it from per-site statistics (docs/federated.md, limitations).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from pydantic import BaseModel

from medrnn.config import save_config
from medrnn.federated.client import Federation, save_federation, score
from medrnn.federated.config import FederatedConfig
from medrnn.federated.dp import DPPlan, plan_dp
from medrnn.federated.sites import check_partition, partition
from medrnn.models import MODELS
from medrnn.tasks.base import Task, TaskData, check_split, get_task
from medrnn.train.fit import FitResult
from medrnn.train.run import RunResult, prepare_run_dir, score_fitted, write_run
from medrnn.train.task_module import TaskModule

log = logging.getLogger(__name__)


@dataclass
class FederatedResult:
    """The run folder's result plus the federation's history (rounds with per-site metrics) and its sites."""

    run: RunResult
    rounds: list[dict[str, Any]]
    sites: list[dict[str, Any]]


def prepare_federation(task: Task, config: BaseModel, fed_config: FederatedConfig, data: TaskData | None = None,
                       progress: bool = False) -> tuple[Federation, dict[str, int]]:  # fmt: skip
    """Read, split, fit the pipeline and partition into sites; returns the federation and the sites left out (too small)."""
    MODELS.get(config.model.name)
    data = task.load(config, progress=progress) if data is None else data
    split = task.split(data, config)
    check_split(data.units, split, where=f"{task.name}: ")
    pipeline = task.fit_pipeline(data, split, config)
    sites, left_out = partition(task, data, split, fed_config.sites, pipeline, fed_config.min_site_train)
    return Federation(task.name, config, data, split, pipeline, sites), left_out


def initial_model(fed: Federation) -> Any:
    """The global model before round 1, seeded like a central run's."""
    L.seed_everything(int(fed.config.train.seed), workers=True, verbose=False)
    model, _ = fed.task.build_model(fed.data, fed.split, fed.pipeline, fed.config)
    return model


def simulate(fed: Federation, fed_config: FederatedConfig, say: Callable[[str], None] = log.info) -> tuple[Any, Any]:
    """Run the rounds on Flower's simulation engine (Ray; one worker per `client_cpus` cores); returns (global model, history)."""
    # Flower's round banners and run_simulation's deprecation notice (docs/federated.md), alembic's plugin lines (at import):
    # medrnn prints one line per round instead; --verbose (DEBUG) shows them all
    quiet = [logging.getLogger(name) for name in ("flwr", "alembic")]
    levels = [lg.level for lg in quiet]
    if not log.isEnabledFor(logging.DEBUG):
        for lg in quiet:
            lg.setLevel(logging.ERROR)
    try:
        return _simulate(fed, fed_config, say)
    finally:
        for lg, level in zip(quiet, levels):
            lg.setLevel(level)


def _simulate(fed: Federation, fed_config: FederatedConfig, say: Callable[[str], None]) -> tuple[Any, Any]:
    """`simulate` without its log filters."""
    import os

    from flwr.simulation import run_simulation

    from medrnn.federated.apps import History, make_client_app, make_server_app
    from medrnn.federated.weights import load_arrays, to_arrays

    model = initial_model(fed)
    task = fed.task

    def evaluate(arrays: Any) -> dict[str, float]:
        return score(task, load_arrays(model, arrays).eval(), fed, fed.split.test, prefix="test")

    history = History()
    cores = max(1, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="medrnn-federation-") as tmp:
        path = save_federation(fed, Path(tmp) / "federation")
        if fed_config.secagg:
            from medrnn.federated.secagg import make_secagg_client_app, make_secagg_server_app

            server = make_secagg_server_app(fed, fed_config, to_arrays(model), evaluate, history, say)
        else:
            server = make_server_app(fed, fed_config, to_arrays(model), evaluate, history, say)
        backend = {"client_resources": {"num_cpus": fed_config.client_cpus, "num_gpus": 0.0},
                   "init_args": {"num_cpus": cores, "log_to_driver": False, "configure_logging": False}}  # fmt: skip
        os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # CPU sites: Ray need not touch CUDA_VISIBLE_DEVICES
        client = (make_secagg_client_app(str(path), threads=1) if fed_config.secagg
                  else make_client_app(str(path), threads=1, central_dp=bool(fed_config.central_dp_noise)))  # fmt: skip
        run_simulation(server, client, num_supernodes=len(fed.sites), backend_config=backend)
    if history.final_arrays is None:
        raise RuntimeError("the federation ended without a global model (see the Flower log above)")
    return load_arrays(model, history.final_arrays).eval(), history


def deployed(fed: Federation, fed_config: FederatedConfig, say: Callable[[str], None] = log.info) -> tuple[Any, Any]:
    """Run the rounds on real local processes (`federated/deploy.py`); returns (global model, history) like `simulate`."""
    from medrnn.federated.deploy import deploy
    from medrnn.federated.weights import load_arrays

    history = deploy(fed, fed_config, say)
    return load_arrays(initial_model(fed), history.final_arrays).eval(), history


def dp_plans(fed: Federation, fed_config: FederatedConfig) -> list[DPPlan]:
    """Every site's DP-SGD plan (noise multiplier for the target ε over all rounds); [] without --dp-epsilon."""
    if fed_config.dp_epsilon is None:
        return []
    batch = int(fed.config.train.batch_size)
    return [plan_dp(s.name, len(s.train), batch, fed_config.local_epochs, fed_config.rounds, fed_config.dp_epsilon,
                    fed_config.dp_max_grad_norm) for s in fed.sites]  # fmt: skip


def privacy_summary(fed_config: FederatedConfig, plans: list[DPPlan], rounds: list[dict[str, Any]],
                    say: Callable[[str], None] = log.info) -> dict[str, Any]:  # fmt: skip
    """metrics.json federated.dp / central_dp: each site's plan, its accountant ε after every round and at the end (printed)."""
    out: dict[str, Any] = {}
    if plans:
        sites = {}
        for plan in plans:
            per_round = [next(s["dp-epsilon"] for s in r["sites"] if s["site"] == plan.site) for r in rounds if r["sites"]]
            sites[plan.site] = {**plan.describe(), "epsilon_per_round": per_round, "epsilon": per_round[-1] if per_round else 0.0}
            say(f"DP-SGD {plan.site}: ε = {sites[plan.site]['epsilon']:.3f} at δ = {plan.delta:.2g} after {len(per_round)} rounds "
                f"(target {plan.target_epsilon:g})")  # fmt: skip
        out["dp"] = {"mechanism": "DP-SGD (Opacus): per-sample clipping, Gaussian noise, Poisson sampling; RDP accountant",
                     "target_epsilon": fed_config.dp_epsilon, "max_grad_norm": fed_config.dp_max_grad_norm,
                     "delta": "1/n, n = the site's training samples", "sites": sites}  # fmt: skip
    if fed_config.central_dp_noise:
        from medrnn.federated.apps import CENTRAL_DP_DELTA, central_epsilon

        epsilon = central_epsilon(fed_config, fed_config.rounds)
        say(f"central DP (client level): ε = {epsilon:.3f} at δ = {CENTRAL_DP_DELTA:g} after {fed_config.rounds} rounds")
        out["central_dp"] = {"mechanism": "Flower DifferentialPrivacyClientSideFixedClipping + fixedclipping_mod; sites averaged "
                                          "uniformly; RDP accountant (Opacus), every site in every round",
                             "noise_multiplier": fed_config.central_dp_noise, "clipping_norm": fed_config.central_dp_clip,
                             "delta": CENTRAL_DP_DELTA, "epsilon": epsilon}  # fmt: skip
    return out


def federate(task: Task | str, config: BaseModel, fed_config: FederatedConfig, run_dir: str | Path, overwrite: bool = False,
             progress: bool = False, data: TaskData | None = None, say: Callable[[str], None] = log.info) -> FederatedResult:  # fmt: skip
    """Train `task` federated over its sites and write the global model as a run folder (see the module docstring)."""
    task = get_task(task) if isinstance(task, str) else task
    check_partition(task, fed_config.sites)
    MODELS.get(config.model.name)  # both refused before any data is read or folder made
    run_dir = Path(run_dir)
    prepare_run_dir(run_dir, config, overwrite=overwrite, resume=False)
    save_config(fed_config, run_dir / "federated.yaml")
    try:
        return _federate(task, config, fed_config, run_dir, progress, data, say)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # a federation does not resume: leave no half folder behind
        raise


def _federate(task: Task, config: BaseModel, fed_config: FederatedConfig, run_dir: Path, progress: bool, data: TaskData | None,
              say: Callable[[str], None]) -> FederatedResult:  # fmt: skip
    """`federate` after the run folder is made."""
    t0 = time.perf_counter()
    fed, left_out = prepare_federation(task, config, fed_config, data=data, progress=progress)
    seconds = {"read_seconds": time.perf_counter() - t0}
    sites = [s.describe() for s in fed.sites]
    say(f"{len(sites)} sites ({fed_config.sites}); test: {len(fed.split.test)} samples, common to every model")
    for s in sites:
        say(f"  {s['name']:>12}: {s['n_train']} train, {s['n_val']} val; labels {s['labels']}")
    for name, n in left_out.items():
        say(f"  {name:>12}: left out ({n} training samples < min_site_train={fed_config.min_site_train})")
    plans = dp_plans(fed, fed_config)  # a site too small for DP-SGD's batches is refused here, before any round
    for plan in plans:
        say(f"  {plan.site:>12}: DP-SGD target ε {plan.target_epsilon:g} at δ={plan.delta:.2g} over {plan.rounds} rounds x "
            f"{plan.steps_per_round} steps: noise multiplier {plan.noise_multiplier:.3f}, clip {plan.max_grad_norm:g}, "
            f"sample rate {plan.sample_rate:.4f}")  # fmt: skip
    model, history = deployed(fed, fed_config, say) if fed_config.deployment else simulate(fed, fed_config, say)
    seconds["train_seconds"] = history.seconds
    pooled_val = score(task, model, fed, fed.split.val, prefix="val")["val-auroc"]  # the sites' validation samples, pooled
    module = TaskModule(model, config.train, fed.pipeline.output_kind, len(fed.pipeline.label_names))
    fit = FitResult(module, "", pooled_val, fed_config.rounds, history.seconds, None, "val_roc_auc")
    fitted = score_fitted(task, config, fed.data, fed.split, fed.pipeline, fit, {"federated": fed_config.model_dump(mode="json")}, seconds)
    extra = {"federated": {"config": fed_config.model_dump(mode="json"), "sites": sites, "left_out": left_out,
                           "final_model": "the global model after the last round (no selection on validation or test)",
                           "pipeline_fitted_on": "the union of the sites' training samples (a simplification; see docs/federated.md)",
                           "rounds": history.rounds}}  # fmt: skip
    extra["federated"].update(privacy_summary(fed_config, plans, history.rounds, say))
    run = write_run(task, config, run_dir, fitted, extra_metrics=extra)
    return FederatedResult(run, history.rounds, sites)
