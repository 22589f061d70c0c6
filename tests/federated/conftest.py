"""Federated fixtures: a small PhysioNet 2012 federation (the task's quick config, sites by ICU unit) and an in-process Grid.

The in-process Grid hands every message straight to the ClientApp (no Ray), so strategy-level checks (FedProx with mu=0
against FedAvg, a refused site) take seconds; the full Flower simulation runs once, in the module fixture of test_simulation.
"""

from __future__ import annotations

import copy

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from medrnn import paths


@pytest.fixture(scope="session")
def icu_federation() -> tuple[Any, dict[str, int]]:
    """Set A's first 150 stays (the task's quick config, halved), 3 sites: CCU (17 training stays) is left out by min_site_train=20."""
    pytest.importorskip("flwr", reason="the federated extra is not installed: pip install 'medrnn[federated]'")
    from medrnn.federated import FederatedConfig
    from medrnn.federated.simulate import prepare_federation
    from medrnn.tasks.base import get_task

    if not (paths.dataset_dir("physionet2012") / "Outcomes-a.txt").exists():
        pytest.skip("PhysioNet 2012 not under the data root; run `medrnn data fetch physionet2012` or set MEDRNN_DATA")
    task = get_task("icu")
    config = task.quick_config()
    config = config.model_copy(update={"data": config.data.model_copy(update={"max_stays": 150}),
                                       "train": config.train.model_copy(update={"explain": 0})})  # fmt: skip
    return prepare_federation(task, config, FederatedConfig(sites="icutype", rounds=2, min_site_train=20))


@pytest.fixture
def inline_grid() -> Iterator[type]:
    """InlineGrid, with the process-wide identity Flower's messages carry set for the test (a ServerApp process sets it)."""
    pytest.importorskip("flwr", reason="the federated extra is not installed: pip install 'medrnn[federated]'")
    from flwr.app import Context, Error, Message, RecordDict
    from flwr.serverapp import Grid
    from flwr.supercore.task_identity import TaskIdentity

    class InlineGrid(Grid):
        """A Grid that runs the ClientApp in this process, node i being site i (strategy tests without Ray)."""

        def __init__(self, client_app: Any, n_sites: int) -> None:
            self.client_app, self.n_sites = client_app, n_sites
            # one Context per node for the whole run, as a SuperNode keeps it (SecAgg+'s mod keeps its keys in it)
            self.contexts = {node: Context(run_id=1, node_id=node, node_config={"partition-id": node - 1}, state=RecordDict(),
                                           run_config={}) for node in range(1, n_sites + 1)}  # fmt: skip

        def set_run(self, run: Any) -> None:  # noqa: D102
            pass

        @property
        def run(self) -> Any:  # noqa: D102
            from types import SimpleNamespace

            return SimpleNamespace(run_id=1)  # Flower's compatibility workflow (SecAgg+) reads the run id

        def create_message(self, *args: Any, **kwargs: Any) -> Message:  # noqa: D102
            raise NotImplementedError

        def get_node_ids(self) -> Iterable[int]:
            return list(range(1, self.n_sites + 1))

        def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:  # noqa: D102
            raise NotImplementedError

        def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:  # noqa: D102
            raise NotImplementedError

        def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
            replies = []
            for msg in messages:
                context = self.contexts[msg.metadata.dst_node_id]
                try:  # a copy, as the wire gives each node its own (SecAgg+'s mod pops from the config it receives)
                    replies.append(self.client_app(copy.deepcopy(msg), context))
                except Exception as ex:  # as Flower's simulation engine does: a failing ClientApp answers with an error
                    replies.append(Message(Error(code=0, reason=f"{type(ex)}:<'{ex}'>"), reply_to=msg))
            return replies

    before = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    import torch

    threads = torch.get_num_threads()  # the ClientApp sets one thread per site; later tests get theirs back
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    yield InlineGrid
    TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = before
    torch.set_num_threads(threads)


@pytest.fixture
def federation_file(icu_federation: tuple[Any, dict[str, int]], tmp_path: Path) -> Path:
    """The federation written where the ClientApp reads it."""
    from medrnn.federated.client import save_federation

    return save_federation(icu_federation[0], tmp_path / "federation")
