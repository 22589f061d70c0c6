"""Fit loop on Lightning: seeded loaders, early stopping and checkpoints on a validation metric."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping
from lightning.pytorch.loggers import CSVLogger
from sklearn.utils.class_weight import compute_class_weight
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from medrnn.config import TrainConfig
from medrnn.data.batch import collate
from medrnn.train.checkpoint import SafetensorsCheckpoint

MAX_WEIGHT_RATIO = 100.0  # a class with 8 examples would otherwise outweigh 40,000 normal beats 5,000:1


def class_weights(y: np.ndarray, num_classes: int, mode: str) -> np.ndarray:
    """Per-class loss (or sampling) weights: none, balanced (n / (k * n_c)) or its square root; capped."""
    weights = np.ones(num_classes)
    if mode == "none":
        return weights
    present = np.unique(y)
    weights[present] = compute_class_weight("balanced", classes=present, y=y)
    if mode == "sqrt":
        weights = np.sqrt(weights)
    weights = np.minimum(weights, weights[present].min() * MAX_WEIGHT_RATIO)
    weights[present] /= weights[present].mean()
    return weights


@dataclass
class FitResult:
    module: L.LightningModule
    best_checkpoint: str
    best_score: float
    epochs: int  # epochs run (early stopping may end before max_epochs); Lightning counts completed epochs
    seconds: float
    best_epoch: int | None = None
    monitor: str = ""


def make_loader(dataset: Dataset, config: TrainConfig, shuffle: bool, sampler_weights: np.ndarray | None = None) -> DataLoader:
    """Seeded loader over `dataset` (collate -> Batch); a weighted sampler when `sampler_weights` are given."""
    generator = torch.Generator().manual_seed(config.seed)
    sampler = None
    if sampler_weights is not None:
        sampler = WeightedRandomSampler(torch.as_tensor(sampler_weights, dtype=torch.double), len(sampler_weights), generator=generator)
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        collate_fn=collate,
        generator=generator,
        num_workers=config.num_workers,
    )


def fit_module(
    module: L.LightningModule,
    train_loader: DataLoader,
    val_loader: DataLoader,
    config: TrainConfig,
    run_dir: Path,
    monitor: str,
    mode: str,
    callbacks: Sequence[L.Callback] = (),
) -> FitResult:
    """Lightning fit with early stopping on `monitor`; the best weights (safetensors) are loaded back."""
    start = time.perf_counter()
    checkpoint = SafetensorsCheckpoint(Path(run_dir) / "checkpoints" / "best.safetensors", monitor=monitor, mode=mode)
    trainer = L.Trainer(
        max_epochs=config.max_epochs,
        accelerator=config.accelerator,
        devices=config.devices,
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        deterministic=config.deterministic,
        callbacks=[EarlyStopping(monitor=monitor, mode=mode, patience=config.patience), checkpoint, *callbacks],
        logger=CSVLogger(run_dir, name="logs"),
        enable_progress_bar=config.progress,
        enable_model_summary=False,
        enable_checkpointing=False,  # best weights go to safetensors (SafetensorsCheckpoint), never a pickle
        log_every_n_steps=max(1, min(50, len(train_loader))),  # small molecule sets have fewer than 50 batches
        default_root_dir=run_dir,
    )
    trainer.fit(module, train_loader, val_loader)
    checkpoint.restore(module)
    module.eval()
    best = checkpoint.best_score if checkpoint.best_score is not None else float("nan")
    return FitResult(module, str(checkpoint.path), best, trainer.current_epoch, time.perf_counter() - start, checkpoint.best_epoch, monitor)
