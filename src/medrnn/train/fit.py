"""Fit loop on Lightning: seeded loaders, early stopping and checkpoints on a validation metric."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader

from medrnn.config import TrainConfig
from medrnn.errors import ConfigError
from medrnn.train.checkpoint import SafetensorsCheckpoint
from medrnn.train.resume import RESUME, ResumeCheckpoint, SafetensorsCheckpointIO


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
    on from there and ends with the same model an uninterrupted run of the same seed gives.
    """
    start = time.perf_counter()
    checkpoint = SafetensorsCheckpoint(Path(run_dir) / "checkpoints" / "best.safetensors", monitor=monitor, mode=mode)
    resume_dir = Path(run_dir) / "checkpoints" / RESUME
    if resume and not (resume_dir / "state.json").exists():
        raise ConfigError(f"{run_dir}: no resume checkpoint ({resume_dir}); the run stopped before its first validation, start it afresh")
    trainer = L.Trainer(
        max_epochs=config.max_epochs,
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        deterministic=config.deterministic,
        # early stopping decides at validation end, so the resume checkpoint written right after holds its decision
        callbacks=[
            EarlyStopping(monitor=monitor, mode=mode, patience=config.patience, check_on_train_epoch_end=False),
            checkpoint,
            *callbacks,
            ResumeCheckpoint(resume_dir, train_loader),
        ],  # fmt: skip
        plugins=[SafetensorsCheckpointIO()],
        logger=CSVLogger(run_dir, name="logs"),
        enable_progress_bar=config.progress,
        enable_model_summary=False,
        enable_checkpointing=True,  # only medrnn's checkpoints run (safetensors + JSON via SafetensorsCheckpointIO), never a pickle
        log_every_n_steps=max(1, min(50, len(train_loader))),  # small molecule sets have fewer than 50 batches
        default_root_dir=run_dir,
    )
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(resume_dir) if resume else None)
    checkpoint.restore(module)
    module.eval()
    best = checkpoint.best_score if checkpoint.best_score is not None else float("nan")
    return FitResult(module, str(checkpoint.path), best, trainer.current_epoch, time.perf_counter() - start, checkpoint.best_epoch, monitor)
