"""Federated training of any task with Flower: sites partition a task's samples, each site trains the task's own model with
the task's own loss, the server averages (FedAvg, FedProx) and writes the global model as an ordinary run folder.

Needs the `federated` extra (`pip install 'medrnn[federated]'`); importing this package does not import Flower.
"""

from medrnn.federated.config import FederatedConfig
from medrnn.federated.sites import Site, check_site_labels, label_balance, partition

__all__ = ["FederatedConfig", "Site", "check_site_labels", "label_balance", "partition"]
