"""The Flower ClientApp / ServerApp pair (Message API of flwr 1.41) around `local_train` and the server's evaluation.

The server sends the global arrays with the round, local epochs, FedProx's mu and the task's label names; each site
answers with its trained arrays and metrics (num-examples weights the average). A site that fails (e.g. labels the task
does not know) stops the federation with its reason instead of being averaged away. The train config also carries the
DP-SGD request (`dp_settings`); client-level central DP is Flower's fixed clipping wrapper and mod (`make_strategy`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAdam, FedAvg, FedProx, Strategy
from opacus.accountants import RDPAccountant

from medrnn.errors import ConfigError
from medrnn.federated.client import Federation, load_federation, local_train
from medrnn.federated.config import FederatedConfig
from medrnn.federated.dp import DPSettings
from medrnn.federated.weights import flat, float_keys, to_arrays, weighted_mean

log = logging.getLogger(__name__)
CENTRAL_DP_DELTA = 1e-5  # δ of the client-level (central DP) ε; sites are few, so 1/n would mean little here


@dataclass
class History:
    """What the server saw, round by round: every site's metrics, the global model's test metrics and how far it moved."""

    rounds: list[dict[str, Any]] = field(default_factory=list)
    final_arrays: ArrayRecord | None = None
    seconds: float = 0.0


def make_client_app(federation_path: str, threads: int | None = None, central_dp: bool = False) -> ClientApp:
    """A ClientApp whose site is its simulation partition id; the shared state is read from `federation_path` once.

    `threads`: torch threads in the worker (1 when simulated sites share the machine's cores; None leaves it).
    `central_dp`: clip the site's update with Flower's `fixedclipping_mod` (the server wrapper sends the norm).
    """
    app = ClientApp(mods=[fixedclipping_mod] if central_dp else None)

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        fed, index = site_of(federation_path, context, threads)
        config = msg.content["config"]
        model, metrics = local_train(fed, index, msg.content["arrays"], int(config["server-round"]), int(config["local-epochs"]),
                                     float(config.get("proximal-mu", 0.0)), list(config["label-names"]), dp_settings(config))  # fmt: skip
        metrics["unit-weight"] = 1  # central DP averages the sites uniformly (its noise assumes it)
        return Message(content=RecordDict({"arrays": to_arrays(model), "metrics": MetricRecord(metrics)}), reply_to=msg)

    return app


def site_of(federation_path: str, context: Context, threads: int | None) -> tuple[Any, int]:
    """In a ClientApp worker: the torch threads set, the shared federation state and this node's site index."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    return load_federation(federation_path), int(context.node_config["partition-id"])


def dp_settings(config: ConfigRecord | dict[str, Any]) -> DPSettings | None:
    """The server's DP-SGD request in a train config (None when `dp-epsilon` is 0 or absent)."""
    epsilon = float(config.get("dp-epsilon", 0.0))
    if epsilon <= 0:
        return None
    return DPSettings(epsilon, float(config["dp-max-grad-norm"]), int(config["rounds"]))


def train_config(config: FederatedConfig, label_names: list[str]) -> ConfigRecord:
    """What every site receives each round besides the arrays (Flower adds the round; FedProx its mu)."""
    return ConfigRecord({"local-epochs": config.local_epochs, "label-names": list(label_names), "rounds": config.rounds,
                         "dp-epsilon": float(config.dp_epsilon or 0.0), "dp-max-grad-norm": config.dp_max_grad_norm})  # fmt: skip


def central_epsilon(config: FederatedConfig, rounds_done: int, delta: float = CENTRAL_DP_DELTA) -> float:
    """Client-level ε of central DP after `rounds_done` rounds: a Gaussian release of the average every round, every site in
    it (no sampling amplification), by Opacus' RDP accountant at `delta`."""
    if not config.central_dp_noise or rounds_done <= 0:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = [(config.central_dp_noise, 1.0, rounds_done)]
    return float(accountant.get_epsilon(delta=delta))


class _Refusing:
    """Strategy mixin: a failed site reply stops the run with the site's reason (never averaged away silently)."""

    def aggregate_train(self, server_round: int, replies: Any) -> Any:
        replies = list(replies)
        failed = [m.error.reason for m in replies if m.has_error()]
        if failed:
            raise ConfigError(f"round {server_round}: {len(failed)} site(s) failed: " + " | ".join(failed))
        return super().aggregate_train(server_round, replies)  # type: ignore[misc]


class SiteFedAvg(_Refusing, FedAvg):
    """FedAvg that refuses failed sites."""


class SiteFedProx(_Refusing, FedProx):
    """FedProx that refuses failed sites."""


class SiteFedAdam(_Refusing, FedAdam):
    """FedAdam (server-side Adam on the averaged update) that refuses failed sites."""


class SiteCentralDP(_Refusing, DifferentialPrivacyClientSideFixedClipping):
    """Flower's client-side fixed clipping central DP wrapper that refuses failed sites (it would drop the round)."""


def make_strategy(config: FederatedConfig, n_sites: int, on_train: Callable[[list[RecordDict], str], MetricRecord]) -> Strategy:
    """FedAvg, FedProx or FedAdam over all `n_sites` every round; `on_train` sees (and aggregates) every site's metrics.

    With `central_dp_noise`, wrapped in Flower's client-side fixed clipping DP strategy (sites averaged uniformly).
    """
    common = {"fraction_train": 1.0, "fraction_evaluate": 0.0, "min_train_nodes": n_sites, "min_available_nodes": n_sites,
              "train_metrics_aggr_fn": on_train}  # fmt: skip
    if config.central_dp_noise:
        common["weighted_by_key"] = "unit-weight"
    if config.strategy == "fedprox":
        strategy: FedAvg = SiteFedProx(proximal_mu=config.proximal_mu, **common)
    elif config.strategy == "fedadam":
        strategy = SiteFedAdam(eta=config.server_lr, **common)
    else:
        strategy = SiteFedAvg(**common)
    if config.central_dp_noise:
        return SiteCentralDP(strategy, noise_multiplier=config.central_dp_noise, clipping_norm=config.central_dp_clip,
                             num_sampled_clients=n_sites)  # fmt: skip
    return strategy


def make_server_app(fed: Federation, config: FederatedConfig, initial: ArrayRecord, evaluate: Callable[[ArrayRecord], dict[str, float]],
                    history: History, say: Callable[[str], None] = log.info) -> ServerApp:  # fmt: skip
    """A ServerApp running `config.rounds` rounds of the strategy; per-round site and global metrics go to `history`."""
    app = ServerApp()
    names = [s.name for s in fed.sites]
    keys = float_keys(initial)
    pending: dict[str, Any] = {}

    def on_train(records: list[RecordDict], key: str) -> MetricRecord:
        rows = [dict(next(iter(r.metric_records.values()))) for r in records]
        pending["sites"] = sorted(({**row, "site": names[int(row["site"])]} for row in rows), key=lambda row: row["site"])
        averaged = ("train-loss", "val-loss", "val-auroc")
        return MetricRecord({k: weighted_mean(rows, k) for k in averaged} | {key: int(sum(r[key] for r in rows))})

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        now = flat(arrays, keys)
        moved = float(np.linalg.norm(now - pending["previous"])) if "previous" in pending else 0.0
        pending["previous"] = now
        metrics = evaluate(arrays)
        row = {"round": server_round, **metrics, "global_change": moved, "sites": pending.pop("sites", [])}
        if config.central_dp_noise:
            row["central-dp-epsilon"] = central_epsilon(config, server_round)
        history.rounds.append(row)
        say(f"round {server_round}/{config.rounds}: test loss {metrics['test-loss']:.4f}, test AUROC {metrics['test-auroc']:.4f}"
            + (f", moved {moved:.4g}" if server_round else "")
            + (f", central DP ε {row['central-dp-epsilon']:.3g} (δ={CENTRAL_DP_DELTA:g})"
               if config.central_dp_noise and server_round else "")
            + "".join(f"\n  {s['site']:>12}: n={s['num-examples']}, train loss {s['train-loss']:.4f}, val AUROC {s['val-auroc']:.4f}"
                      + (f", DP-SGD ε {s['dp-epsilon']:.3f} (δ={s['dp-delta']:.2g})" if "dp-epsilon" in s else "")
                      for s in row["sites"]))  # fmt: skip
        return MetricRecord({k: v for k, v in metrics.items() if np.isfinite(v)})

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        start = time.perf_counter()
        strategy = make_strategy(config, len(fed.sites), on_train)
        result = strategy.start(grid=grid, initial_arrays=initial, num_rounds=config.rounds,
                                train_config=train_config(config, list(fed.pipeline.label_names)),
                                evaluate_fn=evaluate_fn)  # fmt: skip
        history.final_arrays = result.arrays
        history.seconds = time.perf_counter() - start

    return app
