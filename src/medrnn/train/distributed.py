"""Lightning DDP for medrnn: which process is rank 0, the strategies the run loop supports, and the train loader's shard.

Under `--strategy ddp` Lightning starts one process per device by running the same command again (the subprocess
launcher; torchrun or SLURM start them the same way). Every process reads the data and trains its shard of every
epoch; only rank 0 prepares and writes the run folder. Validation is not sharded: each rank scores the whole
validation set, so the monitored metric (hence early stopping and the best epoch) is the single-process one for the
same weights, with no duplicated samples from a padded `DistributedSampler`.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import zlib
from collections.abc import Iterator, Sized
from typing import Any

import lightning as L
import torch.distributed as dist
from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler, Sampler

from medrnn.config import TrainConfig
from medrnn.errors import ConfigError

log = logging.getLogger(__name__)

# strategies whose processes each run medrnn's whole training command, so the rank-0 process holds the callbacks'
# state (best epoch, early stopping) after fit; spawn/fork strategies run fit in children and hand back only weights,
# FSDP/DeepSpeed shard the weights that rank 0 alone saves
STRATEGIES = ("auto", "single_device", "ddp", "ddp_find_unused_parameters_true", "ddp_find_unused_parameters_false")
WORKER_WAIT_S = 120.0  # after fit, rank 0 waits this long for the other local processes to exit
_launched: list[subprocess.Popen] = []  # processes Lightning's subprocess launcher started from this one


def is_rank_zero() -> bool:
    """True in the process that writes the run folder: global rank 0 as torchrun, SLURM or Lightning's launcher set it
    (and in any process that is not part of a distributed run)."""
    if "RANK" in os.environ:  # torchrun / torch.distributed.launch
        return int(os.environ["RANK"]) == 0
    from lightning.fabric.plugins.environments import SLURMEnvironment

    if SLURMEnvironment.detect():
        return int(os.environ.get("SLURM_PROCID", 0)) == 0
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", 0)))  # Lightning's own launcher
    return node == 0 and int(os.environ.get("LOCAL_RANK", 0)) == 0


def hardware_flags(config: TrainConfig) -> str:
    """The Lightning flags of `config` as the CLI spells them (for error messages)."""
    return f"--accelerator {config.accelerator} --devices {config.devices} --strategy {config.strategy} --num-nodes {config.num_nodes}"


def check_hardware(config: TrainConfig) -> None:
    """Refuse, before any data is read, Lightning flags that cannot run (Lightning's own reason, with the flags named)
    and strategies medrnn's run loop does not support (listing those it does)."""
    if config.strategy not in STRATEGIES:
        raise ConfigError(f"--strategy {config.strategy}: not supported by medrnn's run loop; valid: {', '.join(STRATEGIES)} "
                          "(ddp starts one process per device and per node; spawn/fork strategies return only the weights "
                          "to the launching process, FSDP/DeepSpeed shard the weights rank 0 saves)")  # fmt: skip
    from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher

    trainer = lightning_trainer(config, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    launcher = trainer.strategy.launcher
    if launcher is not None and not isinstance(launcher, _SubprocessScriptLauncher):  # `auto` may pick ddp_fork in a notebook
        raise ConfigError(f"{hardware_flags(config)}: Lightning chose {type(trainer.strategy).__name__} with a "
                          f"{type(launcher).__name__.lstrip('_')}, which medrnn does not support; pass --strategy ddp "
                          "and run from a terminal (not a notebook)")  # fmt: skip


def lightning_trainer(config: TrainConfig, **kwargs: Any) -> L.Trainer:
    """`L.Trainer` on the config's accelerator, devices, strategy and nodes (passed to Lightning unchanged); a flag
    Lightning refuses becomes a ConfigError naming the flags."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from medrnn.train.fit import quiet_lightning

    try:
        with quiet_lightning():
            return L.Trainer(accelerator=config.accelerator, devices=config.devices, strategy=config.strategy,
                             num_nodes=config.num_nodes, **kwargs)  # fmt: skip
    except (MisconfigurationException, ValueError, TypeError, ImportError, RuntimeError) as err:
        raise ConfigError(f"{hardware_flags(config)}: Lightning refused them: {err}") from err


class RankShard(Sampler):
    """Rank `rank`'s share of what `inner` yields (indices, or whole batches for a batch sampler): items rank,
    rank + world_size, ... of the full order, padded from its start so every rank takes the same number of steps.

    Interleaving keeps single-process batch composition: with a plain sampler, one DDP step over W ranks covers the
    samples of W consecutive single-process batches. Written here because Lightning's DistributedSamplerWrapper
    neither passes `set_epoch` on to the wrapped sampler nor checks that every rank drew the same order.
    """

    def __init__(self, inner: Sampler | BatchSampler, world_size: int, rank: int) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size} processes")
        self.inner, self.world_size, self.rank = inner, world_size, rank

    def __len__(self) -> int:
        return math.ceil(len(self.inner) / self.world_size) if isinstance(self.inner, Sized) else 0

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch on (Lightning calls this on the loader's sampler; length buckets reshuffle by epoch)."""
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[Any]:
        order = list(self.inner)
        _check_same_order(order, type(self.inner).__name__)
        if not order:
            return iter(())
        total = math.ceil(len(order) / self.world_size) * self.world_size
        order += (order * math.ceil(total / len(order)))[: total - len(order)]
        return iter(order[self.rank : total : self.world_size])


def _check_same_order(order: list[Any], what: str) -> None:
    """Shards are disjoint only if every rank drew the same order: compare a checksum across ranks (one tiny collective)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    digest = zlib.crc32(repr(order).encode())
    digests: list[int] = [0] * dist.get_world_size()
    dist.all_gather_object(digests, digest)
    if len(set(digests)) > 1:
        raise RuntimeError(f"the train {what} drew a different order on each DDP rank (checksums {digests}), so the ranks' "
                           "shards would overlap; seed the sampler (a torch.Generator or a seed argument), not the global RNG")  # fmt: skip


def shard_loader(loader: DataLoader, world_size: int, rank: int, seed: int = 0) -> DataLoader:
    """The train loader this rank iterates: `loader` itself in one process, else a copy drawing this rank's disjoint
    shard (a custom batch sampler such as LengthBucketSampler is sharded by whole batches, so buckets stay intact)."""
    if world_size == 1:
        return loader
    if type(loader) is not DataLoader:
        raise TypeError(f"DDP shards a torch DataLoader; the task's train loader is a {type(loader).__name__}")
    common = dict(num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
                  timeout=loader.timeout, worker_init_fn=loader.worker_init_fn, generator=loader.generator,
                  multiprocessing_context=loader.multiprocessing_context, persistent_workers=loader.persistent_workers)  # fmt: skip
    if loader.num_workers > 0:
        common["prefetch_factor"] = loader.prefetch_factor
    batches = loader.batch_sampler
    if batches is not None and type(batches) is not BatchSampler:  # custom batch sampler: shard whole batches
        return DataLoader(loader.dataset, batch_sampler=RankShard(batches, world_size, rank), **common)
    sampler = loader.sampler
    if isinstance(sampler, DistributedSampler):
        return loader  # the task sharded it already
    if isinstance(sampler, RandomSampler) and sampler.generator is None:  # its order follows the global RNG: not rank-safe
        sampler = DistributedSampler(loader.dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
    else:
        sampler = RankShard(sampler, world_size, rank)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, drop_last=loader.drop_last, sampler=sampler, **common)


class RankShards(L.LightningDataModule):
    """The task's loaders as Lightning asks for them, once the processes know their rank: train sharded per rank,
    validation whole on every rank."""

    def __init__(self, train: DataLoader, val: DataLoader, seed: int = 0) -> None:
        super().__init__()
        self.train, self.val, self.seed = train, val, seed

    def train_dataloader(self) -> DataLoader:
        """This rank's shard of the train loader."""
        return shard_loader(self.train, self.trainer.world_size, self.trainer.global_rank, self.seed)

    def val_dataloader(self) -> DataLoader:
        """The whole validation loader (not sharded)."""
        return self.val


def note_workers(trainer: L.Trainer) -> None:
    """Remember the processes Lightning's launcher started from this one, to wait for them at the end of the run."""
    _launched.extend(getattr(trainer.strategy.launcher, "procs", None) or [])


def wait_for_workers(timeout_s: float = WORKER_WAIT_S) -> None:
    """Wait for the local DDP processes started by this one to exit (they stop after training); a failure is logged."""
    while _launched:
        proc = _launched.pop()
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("DDP process %d still running %.0f s after training; left to finish on its own", proc.pid, timeout_s)
            continue
        if code != 0:
            log.warning("DDP process %d exited with code %d after training (rank 0's results are complete)", proc.pid, code)
