"""The generic Flower client: one site trains the task's own model with the task's own loss for a few local epochs.

Every site runs the same code; what differs is its samples (`Federation.sites[i]`). The loss is `TaskModule`'s
(output kind, class weights, the task's extra loss, L1), stepped by a plain torch loop: a Lightning Trainer per site and
round costs more than the round itself on small sites, and FedProx needs its proximal term inside the step.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from pydantic import BaseModel

from medrnn.data.splits import Split
from medrnn.errors import ConfigError
from medrnn.federated.dp import DPPlan, DPSettings, PrivateTrainer, plan_dp
from medrnn.federated.dp_models import dp_compatible, plain_state
from medrnn.federated.sites import Site, check_site_labels
from medrnn.federated.weights import load_arrays
from medrnn.tasks.base import Pipeline, Scores, Task, TaskData, get_task
from medrnn.train.losses import l1_penalty, mean_auroc
from medrnn.train.task_module import TaskModule


@dataclass
class Federation:
    """What the server and every simulated site share: the task, its config, the samples, the split, the pipeline, the sites."""

    task_name: str
    config: BaseModel
    data: TaskData
    split: Split
    pipeline: Pipeline
    sites: list[Site]

    @property
    def task(self) -> Task:
        """The registered task (instantiated here: a worker process holds the name, not the object)."""
        return get_task(self.task_name)


def save_federation(federation: Federation, folder: Path) -> Path:
    """Write what the simulated sites (Ray workers: other processes) need to rebuild the federation: JSON (task, config,
    pipeline state, a fingerprint of the samples) and an .npz of positions. Nothing is pickled; a worker re-reads the
    samples with `task.load(config)` and checks them against the fingerprint."""
    fed = federation
    meta = {"task": fed.task_name, "config": fed.config.model_dump(mode="json"), "pipeline": fed.pipeline.state_dict(),
            "samples": _fingerprint(fed.data), "sites": [{"name": s.name, "labels": s.labels} for s in fed.sites]}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "federation.json").write_text(json.dumps(meta, default=float), encoding="utf-8")
    arrays = {f"split_{k}": np.asarray(v, dtype=np.int64) for k, v in fed.split._asdict().items()}
    for i, site in enumerate(fed.sites):
        arrays[f"site{i}_train"], arrays[f"site{i}_val"] = np.asarray(site.train, np.int64), np.asarray(site.val, np.int64)
    np.savez(folder / "federation.npz", **arrays)
    return folder


@functools.cache
def load_federation(folder: str) -> Federation:
    """The federation rebuilt from `save_federation`'s files, once per worker process (a site trains every round)."""
    meta = json.loads((Path(folder) / "federation.json").read_text(encoding="utf-8"))
    task = get_task(meta["task"])
    config = task.config_class.model_validate(meta["config"])
    data = task.load(config)
    if _fingerprint(data) != meta["samples"]:
        raise ConfigError(f"{folder}: the samples `task.load(config)` reads here differ from the server's {meta['samples']}; "
                          "a federation's data must be the one its config names")  # fmt: skip
    with np.load(Path(folder) / "federation.npz", allow_pickle=False) as z:
        split = Split(z["split_train"], z["split_val"], z["split_test"])
        sites = [Site(s["name"], z[f"site{i}_train"], z[f"site{i}_val"], s["labels"]) for i, s in enumerate(meta["sites"])]
    return Federation(task.name, config, data, split, task.pipeline_from_state(meta["pipeline"]), sites)


def _fingerprint(data: TaskData) -> dict[str, Any]:
    """Count and SHA-256 of the sample ids, in order."""
    return {"n": len(data.ids), "ids_sha256": hashlib.sha256("\n".join(map(str, data.ids)).encode("utf-8")).hexdigest()}


class _SiteModule(TaskModule):
    """TaskModule stepped without a Trainer: what it would log is kept instead."""

    def log(self, name: str, value: Any, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.__dict__.setdefault("logged", {})[name] = float(value.detach() if isinstance(value, torch.Tensor) else value)


def site_split(site: Site) -> Split:
    """The site's samples as a Split for the task's hooks (its val falls back to one training sample when it has none)."""
    val = site.val if len(site.val) else site.train[:1]
    return Split(site.train, val, np.zeros(0, dtype=np.int64))


def local_train(fed: Federation, index: int, arrays: Any, server_round: int, local_epochs: int, mu: float = 0.0,
                label_names: list[str] | None = None, dp: DPSettings | None = None
                ) -> tuple[torch.nn.Module, dict[str, float]]:  # fmt: skip
    """Train site `index` from the global `arrays` for `local_epochs`; returns the site model and its metrics.

    Seeded by (run seed, round, site), so a rerun gives the same model; `mu` > 0 adds FedProx's (mu/2)||w - w_global||^2.
    With `dp`, the data gradient is DP-SGD's (Opacus: per-sample clipping, noise, Poisson batches; federated/dp.py) and the
    metrics carry the accountant's ε after this round. The site's labels are checked against the server's `label_names` first.
    """
    task, site, config, pipeline = fed.task, fed.sites[index], fed.config, fed.pipeline
    y_train = task.targets(fed.data, site.train, pipeline)
    check_site_labels(site.name, y_train, list(pipeline.label_names), pipeline.output_kind, label_names)
    split = site_split(site)
    seed = int(config.train.seed) + 1000 * server_round + index
    plan = None if dp is None else plan_dp(site.name, len(site.train), int(config.train.batch_size), local_epochs, dp.rounds,
                                           dp.epsilon, dp.max_grad_norm)  # fmt: skip
    L.seed_everything(seed, workers=True, verbose=False)
    model, _ = task.build_model(fed.data, split, pipeline, config)
    load_arrays(model, arrays)
    # under DP the L1 penalty is a data-independent term added after the noise (dp.py), not part of the clipped loss
    train_cfg = config.train.model_copy(update={"seed": seed, "max_epochs": local_epochs, "progress": False, **({"l1": 0.0} if dp else {})})
    run_cfg = config.model_copy(update={"train": train_cfg})
    train_loader, _, _ = task.loaders(fed.data, split, pipeline, run_cfg)
    module = _SiteModule(model, train_cfg, pipeline.output_kind, len(pipeline.label_names),
                         class_weights=task.class_weights(fed.data, split, pipeline, run_cfg),
                         extra_loss=task.extra_loss(fed.data, split, pipeline, run_cfg, model))  # fmt: skip
    extra: dict[str, float] = {}
    if plan is None:
        losses = _train_plain(module, train_loader, local_epochs, mu)
    else:
        losses, epsilon = _train_private(module, train_loader, local_epochs, mu, float(config.train.l1), plan, seed, server_round)
        model.load_state_dict(plain_state(module.model, model))
        extra = {"dp-epsilon": epsilon, "dp-delta": plan.delta, "dp-noise-multiplier": plan.noise_multiplier}
    model.eval()
    metrics = {"num-examples": int(len(site.train)), "site": index, "train-loss": float(np.mean(losses)) if losses else float("nan"),
               "num-val": int(len(site.val)), **extra, **score(task, model, fed, site.val, prefix="val")}  # fmt: skip
    return model, metrics


def _proximal(model: torch.nn.Module, anchor: list[torch.Tensor], mu: float) -> torch.Tensor | float:
    """FedProx's (mu/2)||w - w_global||^2 (0 when mu is 0)."""
    return mu / 2 * sum(((p - a) ** 2).sum() for p, a in zip(model.parameters(), anchor)) if mu > 0 else 0.0


def _train_plain(module: _SiteModule, loader: Any, local_epochs: int, mu: float) -> list[float]:
    """Ordinary local epochs (shuffled batches, the task's loss + FedProx's term); returns the per-step losses."""
    model = module.model
    optimizer = module.optimizer()
    anchor = [p.detach().clone() for p in model.parameters()]
    losses = []
    module.train()
    for _ in range(local_epochs):
        for step, batch in enumerate(loader):
            loss = module.training_step(batch, step) + _proximal(model, anchor, mu)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    return losses


def _train_private(module: _SiteModule, loader: Any, local_epochs: int, mu: float, l1: float, plan: DPPlan, seed: int,
                   server_round: int) -> tuple[list[float], float]:  # fmt: skip
    """DP-SGD local epochs on a DP-compatible copy of the model (left in `module.model`); returns the losses and the
    accountant's ε after this round (this round's steps on top of the earlier rounds' planned ones)."""
    private = dp_compatible(module.model)
    module.model = private
    anchor = [p.detach().clone() for p in private.parameters()]
    trainer = PrivateTrainer(private, module.optimizer(), plan, seed, rounds_before=server_round - 1)
    losses = []
    module.train()
    try:
        for _ in range(local_epochs):
            for step, batch in enumerate(trainer.batches(loader)):
                loss = None if batch is None else module.training_step(batch, step)
                public = _proximal(private, anchor, mu) + (l1 * l1_penalty(private) if l1 > 0 else 0.0)
                trainer.step(loss, public if isinstance(public, torch.Tensor) else None)
                if loss is not None:
                    losses.append(float(loss.detach()) + float(public.detach() if isinstance(public, torch.Tensor) else public))
    finally:
        trainer.close()
    return losses, trainer.epsilon()


def score(task: Task, model: torch.nn.Module, fed: Federation, index: np.ndarray, prefix: str) -> dict[str, float]:
    """Loss and mean ROC-AUC (one-vs-rest for multiclass; NaN where undefined) of `model` on the samples at `index`."""
    if len(index) == 0:
        return {f"{prefix}-loss": float("nan"), f"{prefix}-auroc": float("nan")}
    scores: Scores = task.predict(model, fed.pipeline, task.subset(fed.data, index))
    y = task.targets(fed.data, index, fed.pipeline)
    out = {f"{prefix}-loss": task.validation_loss(y, scores, fed.pipeline), f"{prefix}-auroc": float("nan")}
    kind = fed.pipeline.output_kind
    if kind == "multiclass":
        onehot = np.eye(scores.values.shape[1])[np.asarray(y, dtype=np.int64)]
        out[f"{prefix}-auroc"] = mean_auroc(onehot, scores.values)
    elif kind != "regression":
        out[f"{prefix}-auroc"] = mean_auroc(np.asarray(y, dtype=np.float64).reshape(scores.values.shape), scores.values)
    return {k: float(v) for k, v in out.items()}
