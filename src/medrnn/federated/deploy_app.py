"""The Flower App a deployment runs: module-level `server` and `client` (what `flwr run` names in the app's pyproject).

Both read the federation folder written by `medrnn federate --deployment` (run config `federation-dir`): the sites'
samples are re-read and checked as in the simulation (`load_federation`); the ServerApp writes the global model and the
rounds into `<federation-dir>/result` for the `medrnn federate` process that started the run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from medrnn.federated.apps import History, make_client_app, make_server_app
from medrnn.federated.client import load_federation, score
from medrnn.federated.config import FederatedConfig

server = ServerApp()
client = ClientApp()


@server.main()
def main(grid: Grid, context: Context) -> None:
    """Run the federation's rounds against the SuperNodes; the global model and the rounds go to `<federation-dir>/result`."""
    from medrnn.federated.simulate import initial_model
    from medrnn.federated.weights import load_arrays, to_arrays

    folder = Path(str(context.run_config["federation-dir"]))
    fed = load_federation(str(folder))
    fed_config = FederatedConfig.model_validate_json((folder / "federated.json").read_text(encoding="utf-8"))
    model = initial_model(fed)
    history = History()
    lines: list[str] = []

    def evaluate(arrays: object) -> dict[str, float]:
        return score(fed.task, load_arrays(model, arrays).eval(), fed, fed.split.test, prefix="test")  # type: ignore[arg-type]

    app = make_server_app(fed, fed_config, to_arrays(model), evaluate, history, say=lines.append)
    app(grid, context)
    out = folder / "result"
    out.mkdir(exist_ok=True)
    if history.final_arrays is not None:
        np.savez(out / "global.npz", **{k: a.numpy() for k, a in history.final_arrays.items()})
    (out / "history.json").write_text(json.dumps({"rounds": history.rounds, "seconds": history.seconds, "lines": lines},
                                                 default=float), encoding="utf-8")  # fmt: skip


@client.train()
def train(msg: Message, context: Context) -> Message:
    """One site's round: the simulation's ClientApp, its site given by the SuperNode's `partition-id` node config."""
    return _client_app(str(context.run_config["federation-dir"]))(msg, context)


_APPS: dict[str, ClientApp] = {}


def _client_app(folder: str) -> ClientApp:
    """The simulation's ClientApp for `folder`, made once per process."""
    if folder not in _APPS:
        _APPS[folder] = make_client_app(folder, threads=1)
    return _APPS[folder]
