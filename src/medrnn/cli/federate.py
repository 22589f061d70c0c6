"""`medrnn federate TASK`: federated training over the task's sites on Flower's simulation engine -> an ordinary run folder."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer


def federate_command(
    task_name: str = typer.Argument(..., metavar="TASK", help="Task name or alias with a site partition (icu_mortality: icutype; ecg_beats: record)."),
    sites: Optional[str] = typer.Option(None, "--sites", help="Site partition the task declares (default: its first, e.g. icutype)."),
    strategy: str = typer.Option("fedavg", "--strategy", help="fedavg, fedprox or fedadam."),
    rounds: int = typer.Option(10, "--rounds", help="Federated rounds."),
    local_epochs: int = typer.Option(1, "--local-epochs", help="Epochs over each site's training samples per round."),
    mu: float = typer.Option(0.01, "--mu", help="FedProx proximal weight mu (fedprox only)."),
    server_lr: float = typer.Option(0.01, "--server-lr", help="FedAdam: the server's Adam step size eta (fedadam only)."),
    min_site_train: int = typer.Option(1, "--min-site-train", help="Sites with fewer training samples are left out (and listed)."),
    client_cpus: float = typer.Option(1.0, "--client-cpus", help="CPU cores per simulated site (sites train in parallel)."),
    dp_epsilon: Optional[float] = typer.Option(None, "--dp-epsilon", help="DP-SGD (Opacus) on every site: target ε over all rounds at δ = 1/n (n: the site's training samples)."),
    dp_max_grad_norm: float = typer.Option(1.0, "--dp-max-grad-norm", help="DP-SGD: per-sample gradient clipping norm C."),
    central_dp_noise: Optional[float] = typer.Option(None, "--central-dp-noise", help="Client-level central DP (Flower's client-side fixed clipping): noise multiplier on the averaged update."),
    central_dp_clip: float = typer.Option(1.0, "--central-dp-clip", help="Central DP: L2 norm each site's update is clipped to."),
    secagg: bool = typer.Option(False, "--secagg", help="Secure aggregation (Flower's SecAgg+): the server sees only the sum of the sites' (quantised) models."),
    deployment: bool = typer.Option(False, "--deployment", help="Real processes instead of the simulation: flower-superlink + one flower-supernode per site on 127.0.0.1, TLS certificates made for the run."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run folder (default: runs/<task>-<strategy>)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="The task's YAML run config (model, data, train); flags override it."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for the split, the initial weights and every site's batches."),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="Any task config field as key=value, e.g. --set train.lr=3e-4 (repeatable)."),
    quick: bool = typer.Option(False, "--quick", help="The task's seconds-long smoke configuration on a small real subset."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder at --out."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html at the end."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging (Flower's and Ray's own lines too)."),
) -> None:
    """Train one model across sites without pooling their samples: each site trains the task's model on its own samples, the
    server averages (FedAvg, FedProx or FedAdam) every round and judges the global model on the task's common test set. Prints each
    site's size and label balance, one line per round with every site's metrics; writes a run folder that `medrnn predict`,
    `medrnn report` and `medrnn serve` use like any other (metrics.json gains a `federated` section).

    Privacy: --dp-epsilon 8 runs DP-SGD on every site and prints each site's ε per round; --secagg aggregates with SecAgg+.

    Example: medrnn federate icu --sites icutype --strategy fedprox --rounds 20 --local-epochs 1 --out runs/icu-fedprox
    """
    from medrnn.cli.overrides import build_config, validate
    from medrnn.errors import ConfigError
    from medrnn.federated.config import FederatedConfig
    from medrnn.federated.simulate import federate  # Flower, Ray and torch only when a federation runs
    from medrnn.tasks.base import get_task

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stdout)
    task = get_task(task_name)
    if sites is None:
        if not task.site_partitions:
            raise ConfigError(f"task {task.name!r} declares no site partition (Task.site_partitions); federated training needs one")
        sites = next(iter(task.site_partitions))
    fed_config = validate(FederatedConfig, {"sites": sites, "strategy": strategy, "rounds": rounds, "local_epochs": local_epochs,
                                            "proximal_mu": mu, "server_lr": server_lr, "client_cpus": client_cpus, "min_site_train": min_site_train,
                                            "dp_epsilon": dp_epsilon, "dp_max_grad_norm": dp_max_grad_norm, "central_dp_noise": central_dp_noise,
                                            "central_dp_clip": central_dp_clip, "secagg": secagg, "deployment": deployment}, "federate",
                          {"strategy": "--strategy", "rounds": "--rounds", "local_epochs": "--local-epochs", "proximal_mu": "--mu",
                           "server_lr": "--server-lr", "dp_epsilon": "--dp-epsilon", "dp_max_grad_norm": "--dp-max-grad-norm",
                           "central_dp_noise": "--central-dp-noise", "central_dp_clip": "--central-dp-clip"})
    cfg = build_config(task, {"config": config, "quick": quick, "seed": seed, "set_": set_, "progress": False}, {})
    out = out or Path("runs") / f"{task.name}-{fed_config.strategy}"
    result = federate(task, cfg, fed_config, out, overwrite=overwrite, say=typer.echo)
    typer.echo(result.run.report.table())
    typer.echo(f"run folder: {out}")
    if report:
        from medrnn.report import write_report

        typer.echo(f"report: {write_report(out)}")
