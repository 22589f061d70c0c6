"""The federated section of a run: how samples become sites, the strategy, rounds and local epochs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medrnn.config.schema import StrictConfig

STRATEGIES = ("fedavg", "fedprox", "fedadam")


class FederatedConfig(StrictConfig):
    """Written to RUN/federated.yaml beside the task's config.yaml (which still says how the model and data are set up)."""

    sites: str = Field("icutype", description="site partition declared by the task (Task.site_partitions), e.g. icutype, record")
    strategy: Literal["fedavg", "fedprox", "fedadam"] = "fedavg"
    rounds: int = Field(10, ge=1)
    local_epochs: int = Field(1, ge=1, description="epochs over a site's training samples per round")
    proximal_mu: float = Field(0.01, ge=0, description="FedProx: weight of (mu/2)||w - w_global||^2 in every site's loss")
    server_lr: float = Field(0.01, gt=0, description="FedAdam: the server's Adam step size (eta) on the averaged update")
    client_cpus: float = Field(1.0, gt=0, description="CPU cores Ray reserves per simulated site (sites train in parallel)")
    min_site_train: int = Field(1, ge=1, description="sites with fewer training samples are left out (and listed)")
    dp_epsilon: float | None = Field(None, gt=0, description="DP-SGD on every site (Opacus): target ε over all rounds at δ = 1/n")
    dp_max_grad_norm: float = Field(1.0, gt=0, description="DP-SGD: per-sample gradient clipping norm C")
    central_dp_noise: float | None = Field(None, gt=0, description="client-level central DP (Flower's client-side fixed "
                                           "clipping wrapper): noise multiplier z on the average of the clipped site updates")  # fmt: skip
    central_dp_clip: float = Field(1.0, gt=0, description="central DP: L2 norm each site's update is clipped to")
    secagg: bool = Field(False, description="SecAgg+ (Flower's secaggplus_mod + SecAggPlusWorkflow): the server sees only the sum")
    deployment: bool = Field(False, description="real processes: flower-superlink + one flower-supernode per site on 127.0.0.1, "
                                                "TLS with certificates made for the run (instead of the simulation engine)")
