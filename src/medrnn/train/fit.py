"""Fit loop on Lightning: seeded loaders, early stopping and checkpoints on a validation metric.

What it prints is medrnn's own: epochs counted from 1, one log line per epoch when no progress bar is shown (output
redirected to a file, or progress off), one line saying why training stopped; Lightning's banner lines, adverts and
deprecation noise are kept out (they still reach the log at DEBUG with --verbose).
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from medrnn.config import TrainConfig
from medrnn.errors import ConfigError
from medrnn.train.checkpoint import SafetensorsCheckpoint
from medrnn.train.distributed import RankShards, lightning_trainer, note_workers
from medrnn.train.resume import RESUME, ResumeCheckpoint, SafetensorsCheckpointIO


log = logging.getLogger(__name__)

# Lightning's INFO lines (GPU/TPU available, the litlogger and litmodels adverts, "`Trainer.fit` stopped", weights_only)
# come from these loggers; medrnn says what matters itself
LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                     "lightning.pytorch.trainer.connectors.checkpoint_connector", "lightning.pytorch.accelerators.cuda")  # fmt: skip
NOISE = (r".*isinstance\(treespec, LeafSpec\).*",)  # torch deprecation raised inside lightning/pytorch/utilities/_pytree.py


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Within the block, Lightning's banner and advert lines and known deprecation noise are not shown (log levels and
    warning filters are put back afterwards; with --verbose, DEBUG logging, they are left as they are)."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        for pattern in NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


class ProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar with epochs counted from 1 of max_epochs and without the logger's `v_num`."""

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(f"Epoch {trainer.current_epoch + 1}/{trainer.max_epochs}")

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return metrics


class EpochLog(L.Callback):
    """One log line per epoch (counted from 1), for output that is not a terminal: a redirected run shows progress."""

    def __init__(self, monitor: str) -> None:
        self.monitor, self.started = monitor, 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not self.started:  # not started: a resumed run replaying the end of its epoch
            return
        shown = [k for k in ("train_loss", "val_loss", self.monitor) if k in trainer.callback_metrics]
        values = ", ".join(f"{k} {float(trainer.callback_metrics[k]):.4f}" for k in dict.fromkeys(shown))
        log.info("epoch %d/%d: %s (%.0f s)", trainer.current_epoch + 1, trainer.max_epochs, values or "no metrics yet",
                 time.perf_counter() - self.started)  # fmt: skip


@dataclass
class FitResult:
    """A fitted module with its best validation score and epoch, the monitored metric and the time it took."""

    module: L.LightningModule
    best_checkpoint: str
    best_score: float
    epochs: int  # epochs run (early stopping may end before max_epochs); Lightning counts completed epochs
    seconds: float
    best_epoch: int | None = None
    monitor: str = ""
    rank_zero: bool = True  # False in the other DDP processes: they helped train and write nothing


def fit_module(
    module: L.LightningModule,
    train_loader: DataLoader,
    val_loader: DataLoader,
    config: TrainConfig,
    run_dir: Path,
    monitor: str,
    mode: str,
    callbacks: Sequence[L.Callback] = (),
    resume: bool = False,
) -> FitResult:
    """Lightning fit with early stopping on `monitor`; the best weights (safetensors) are loaded back.

    The whole training state is saved after every validation to RUN/checkpoints/resume; with `resume` training goes
    on from there and ends with the same model an uninterrupted run of the same seed gives. Under DDP every rank trains
    its shard of `train_loader` and validates on all of `val_loader`; rank 0 alone writes files and loads the best
    weights back (`FitResult.rank_zero` is False in the other processes, whose module keeps its last weights).
    """
    start = time.perf_counter()
    checkpoint = SafetensorsCheckpoint(Path(run_dir) / "checkpoints" / "best.safetensors", monitor=monitor, mode=mode)
    resume_dir = Path(run_dir) / "checkpoints" / RESUME
    if resume and not (resume_dir / "state.json").exists():
        raise ConfigError(f"{run_dir}: no resume checkpoint ({resume_dir}); the run stopped before its first validation, start it afresh")
    stopper = EarlyStopping(monitor=monitor, mode=mode, patience=config.patience, check_on_train_epoch_end=False)
    bar = config.progress and sys.stdout.isatty()  # Lightning's bar writes to stdout: in a file it would be noise
    with quiet_lightning():
        trainer = _trainer(config, run_dir, len(train_loader),
                           [stopper, checkpoint, *callbacks, ResumeCheckpoint(resume_dir, train_loader),
                            ProgressBar() if bar else EpochLog(monitor)])  # fmt: skip
        data = RankShards(train_loader, val_loader, seed=config.seed)
        trainer.fit(module, datamodule=data, ckpt_path=str(resume_dir) if resume else None)
    note_workers(trainer)
    module.eval()
    best = checkpoint.best_score if checkpoint.best_score is not None else float("nan")
    if trainer.is_global_zero:
        checkpoint.restore(module)
        _say_why_it_stopped(trainer, stopper, checkpoint, config)
    return FitResult(module, str(checkpoint.path), best, trainer.current_epoch, time.perf_counter() - start, checkpoint.best_epoch, monitor,
                     rank_zero=trainer.is_global_zero)  # fmt: skip


def _say_why_it_stopped(trainer: L.Trainer, stopper: EarlyStopping, checkpoint: SafetensorsCheckpoint, config: TrainConfig) -> None:
    """One line: early stopping (no improvement for `patience` epochs) or the epoch limit, and the best epoch (from 1)."""
    if trainer.interrupted:
        return
    best = ""
    if checkpoint.best_epoch is not None:
        best = f"; best epoch {checkpoint.best_epoch + 1} ({stopper.monitor} {checkpoint.best_score:.4f})"
    ran = trainer.current_epoch  # epochs completed
    if ran >= config.max_epochs:
        log.info("training ran the epoch limit (max_epochs=%d)%s", config.max_epochs, best)
    elif stopper.wait_count >= stopper.patience:
        log.info("early stopping after epoch %d: no improvement of %s for %d epochs%s", ran, stopper.monitor, stopper.patience, best)
    else:
        log.info("training stopped after epoch %d: %s was not a finite number%s", ran, stopper.monitor, best)


def _trainer(config: TrainConfig, run_dir: Path, n_batches: int, callbacks: list[L.Callback]) -> L.Trainer:
    """The Lightning Trainer of one fit: medrnn's callbacks, safetensors checkpoints, CSV logs in the run folder."""
    bar = any(isinstance(c, TQDMProgressBar) for c in callbacks)
    trainer = lightning_trainer(
        config,
        max_epochs=config.max_epochs,
        deterministic=config.deterministic,
        # early stopping decides at validation end, so the resume checkpoint written right after holds its decision
        callbacks=callbacks,
        plugins=[SafetensorsCheckpointIO()],
        logger=CSVLogger(run_dir, name="logs"),
        enable_progress_bar=bar,
        enable_model_summary=False,
        enable_checkpointing=True,  # only medrnn's checkpoints run (safetensors + JSON via SafetensorsCheckpointIO), never a pickle
        use_distributed_sampler=False,  # RankShards shards the train loader (custom batch samplers too), never validation
        default_root_dir=run_dir,
    )
    # small molecule sets have fewer than 50 batches, and under DDP each rank runs 1/world_size of them
    trainer.log_every_n_steps = max(1, min(50, math.ceil(n_batches / trainer.world_size)))
    return trainer
