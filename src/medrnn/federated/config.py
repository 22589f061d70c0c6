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
