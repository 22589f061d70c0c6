"""Secure aggregation: Flower's SecAgg+ (the client's `secaggplus_mod`, the server's `SecAggPlusWorkflow`), so the server
learns only the weighted sum of the sites' models, never one site's.

In flwr 1.41 SecAgg+ exists only for the compatibility path: the server runs `DefaultWorkflow(fit_workflow=
SecAggPlusWorkflow(...))` over a `LegacyContext` with the legacy FedAvg, and the sites answer "train" messages in the
legacy FitIns / FitRes layout (unnamed arrays, in the model's state-dict order). The site's training is `local_train`,
as without SecAgg+. FedProx (mu) and DP-SGD combine with it; FedAdam and central DP do not (their server step needs the
plain strategies).

Each site sends r_i * w_i, r_i = n_i / max_weight rounded to 1/Q, clipped to [-c, c] and stochastically rounded to the grid
of 2c / Q (c = clipping range, Q = quantisation range), plus masks that cancel in the sum. The average the server gets
differs from FedAvg's by at most `quantisation_tolerance` per weight.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat
from flwr.server import LegacyContext, ServerConfig
from flwr.server.strategy import FedAvg as LegacyFedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.serverapp import Grid, ServerApp

from medrnn.errors import ConfigError
from medrnn.federated.apps import History, dp_settings, site_of, train_config
from medrnn.federated.client import Federation, local_train
from medrnn.federated.config import FederatedConfig
from medrnn.federated.weights import flat, float_keys

log = logging.getLogger(__name__)

CLIPPING_RANGE = 8.0  # |weight| above this would be clipped before quantisation (checked: `check_range`)
QUANTIZATION_RANGE = 2**22  # Flower's default grid: 2c / Q = 3.8e-6 at c = 8
MODULUS_RANGE = 2**32


def quantisation_tolerance(n_sites: int, clipping_range: float = CLIPPING_RANGE, quantization_range: int = QUANTIZATION_RANGE) -> float:
    """Largest difference per weight between SecAgg+'s average and FedAvg's when max_weight = the sites' total size.

    Each site's stochastic rounding moves its r_i w_i by < 2c/Q and the rounding of r_i to 1/Q moves the weighted sum by
    < c/Q per site; the sum of the r_i is about 1, so the average moves by < n_sites * 3c / Q.
    """
    return n_sites * 3 * clipping_range / quantization_range


def workflow(n_sites: int, max_weight: float) -> SecAggPlusWorkflow:
    """SecAgg+ over all `n_sites` (every site holds a share of every other's key; any n-1 of them reconstruct one)."""
    if n_sites < 2:
        raise ConfigError(f"SecAgg+ needs two or more sites, got {n_sites}")
    shares: int | float = n_sites if n_sites > 2 else 1.0  # Flower wants an int share count > 2, or a fraction
    threshold: int | float = n_sites - 1 if n_sites > 2 else 1.0
    return SecAggPlusWorkflow(num_shares=shares, reconstruction_threshold=threshold, max_weight=max_weight,
                              clipping_range=CLIPPING_RANGE, quantization_range=QUANTIZATION_RANGE,
                              modulus_range=MODULUS_RANGE)  # fmt: skip


def make_secagg_client_app(federation_path: str, threads: int | None = None) -> ClientApp:
    """The site's ClientApp behind `secaggplus_mod`: legacy FitIns in, `local_train`, legacy FitRes (masked by the mod) out."""
    app = ClientApp(mods=[secaggplus_mod])

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        fed, index = site_of(federation_path, context, threads)
        fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
        config = fitins.config
        keys = list(_template_keys(fed))
        arrays = ArrayRecord({k: Array(np.asarray(a)) for k, a in zip(keys, parameters_to_ndarrays(fitins.parameters))})
        model, metrics = local_train(fed, index, arrays, int(config["server-round"]), int(config["local-epochs"]),
                                     float(config.get("proximal-mu", 0.0)), json.loads(str(config["label-names"])),
                                     dp_settings(config))  # fmt: skip
        state = [v.detach().cpu().numpy() for v in model.state_dict().values()]
        check_range(state, fed.sites[index].name)
        fitres = FitRes(Status(Code.OK, ""), ndarrays_to_parameters(state), int(metrics["num-examples"]), metrics)
        return Message(content=compat.fitres_to_recorddict(fitres, keep_input=False), reply_to=msg)

    return app


def _template_keys(fed: Federation) -> list[str]:
    """The model's state-dict keys (the order of the legacy, unnamed arrays)."""
    from medrnn.federated.simulate import initial_model

    return list(initial_model(fed).state_dict())


def check_range(arrays: list[np.ndarray], site: str) -> None:
    """Refuse weights SecAgg+ would clip before quantising (the sum would silently differ from FedAvg's)."""
    largest = max((float(np.abs(a).max()) for a in arrays if a.size), default=0.0)
    if largest > CLIPPING_RANGE:
        raise ConfigError(f"site {site}: a weight of magnitude {largest:.3g} exceeds SecAgg+'s clipping range {CLIPPING_RANGE:g}; "
                          "lower train.lr or add weight decay, or train without --secagg")  # fmt: skip


def make_secagg_server_app(fed: Federation, config: FederatedConfig, initial: ArrayRecord,
                           evaluate: Callable[[ArrayRecord], dict[str, float]], history: History,
                           say: Callable[[str], None] = log.info) -> ServerApp:  # fmt: skip
    """A ServerApp running `config.rounds` rounds of FedAvg (FedProx's mu sent to the sites) under SecAgg+."""
    if config.strategy == "fedadam" or config.central_dp_noise:
        raise ConfigError("--secagg combines with --strategy fedavg or fedprox and with --dp-epsilon; not with fedadam or "
                          "--central-dp-noise (their server step needs the plain strategy)")  # fmt: skip
    app = ServerApp()
    names, keys = [s.name for s in fed.sites], list(initial.keys())
    floats = float_keys(initial)
    sent = train_config(config, list(fed.pipeline.label_names))
    pending: dict[str, Any] = {}

    def fit_config(server_round: int) -> dict[str, Any]:
        # the legacy config holds scalars only: the label names travel as one JSON string
        out = {**dict(sent), "label-names": json.dumps(list(sent["label-names"])), "server-round": server_round}
        if config.strategy == "fedprox":
            out["proximal-mu"] = config.proximal_mu
        return out

    def fit_metrics(results: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        pending["sites"] = sorted(({**m, "site": names[int(m["site"])]} for _, m in results), key=lambda m: m["site"])
        return {}

    def evaluate_fn(server_round: int, ndarrays: list[np.ndarray], _: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        arrays = ArrayRecord({k: Array(np.asarray(a)) for k, a in zip(keys, ndarrays)})
        now = flat(arrays, floats)
        moved = float(np.linalg.norm(now - pending["previous"])) if "previous" in pending else 0.0
        pending["previous"] = now
        metrics = evaluate(arrays)
        history.rounds.append({"round": server_round, **metrics, "global_change": moved, "sites": pending.pop("sites", [])})
        history.final_arrays = arrays
        say(f"round {server_round}/{config.rounds} (SecAgg+): test loss {metrics['test-loss']:.4f}, test AUROC "
            f"{metrics['test-auroc']:.4f}" + (f", moved {moved:.4g}" if server_round else ""))  # fmt: skip
        return float(metrics["test-loss"]), {k: v for k, v in metrics.items() if np.isfinite(v)}

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        start = time.perf_counter()
        n = len(fed.sites)
        strategy = LegacyFedAvg(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_evaluate_clients=0,
                                min_available_clients=n, evaluate_fn=evaluate_fn, on_fit_config_fn=fit_config,
                                fit_metrics_aggregation_fn=fit_metrics,
                                initial_parameters=ndarrays_to_parameters([initial[k].numpy() for k in keys]))  # fmt: skip
        legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=config.rounds), strategy=strategy)
        total = float(sum(len(s.train) for s in fed.sites))  # max_weight: the ratios n_i / total sum to 1
        DefaultWorkflow(fit_workflow=workflow(n, total))(grid, legacy)
        history.seconds = time.perf_counter() - start

    return app


def compare_arrays(a: ArrayRecord, b: ArrayRecord) -> float:
    """Largest absolute difference over the floating-point arrays both records hold."""
    keys = float_keys(a)
    return float(np.max(np.abs(flat(a, keys) - flat(b, keys)))) if keys else 0.0


def compare_secagg(task: Any, config: Any, data: Any, rounds: int = 1) -> dict[str, Any]:
    """`rounds` of FedAvg with and without SecAgg+ from the same initial model (Flower simulation); the largest weight
    difference against `quantisation_tolerance`."""
    from medrnn.federated.simulate import prepare_federation, simulate

    plain_cfg = FederatedConfig(sites="icutype", rounds=rounds)
    fed, _ = prepare_federation(task, config, plain_cfg, data=data)
    _, plain = simulate(fed, plain_cfg)
    _, secure = simulate(fed, plain_cfg.model_copy(update={"secagg": True}))
    diff = compare_arrays(plain.final_arrays, secure.final_arrays)
    tolerance = quantisation_tolerance(len(fed.sites))
    return {"rounds": rounds, "n_sites": len(fed.sites), "max_abs_difference": diff, "tolerance": tolerance,
            "equal_within_tolerance": bool(diff <= tolerance), "clipping_range": CLIPPING_RANGE,
            "quantization_range": QUANTIZATION_RANGE, "seconds": {"fedavg": plain.seconds, "secagg": secure.seconds}}  # fmt: skip
