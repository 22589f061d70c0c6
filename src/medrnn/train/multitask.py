"""LightningModule for one or many binary/regression outputs with missing labels (molecules, ICU mortality, EHR tasks)."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medrnn.config import TrainConfig
from medrnn.data.batch import Batch
from medrnn.errors import ConfigError
from medrnn.train.module import l1_penalty, make_optimizer


def masked_loss(logits: torch.Tensor, y: torch.Tensor, task_type: str) -> torch.Tensor:
    """Mean BCE-with-logits (classification) or MSE (regression) over labelled entries only; NaN y = missing.

    A batch with no label at all gives a zero loss that still carries the graph (no NaN reaches the optimiser).
    """
    if logits.shape != y.shape:
        raise ConfigError(f"logits {tuple(logits.shape)} and targets {tuple(y.shape)} differ; one output per task expected")
    mask = ~torch.isnan(y)
    if not mask.any():
        return logits.sum() * 0.0
    target = torch.where(mask, y, torch.zeros_like(y))
    if task_type == "classification":
        per_entry = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    elif task_type == "regression":
        per_entry = (logits - target) ** 2
    else:
        raise ConfigError(f"task_type {task_type!r}; valid: classification, regression")
    return (per_entry * mask).sum() / mask.sum()


def mean_auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Mean ROC-AUC over tasks that have both classes among their labelled rows (NaN if none)."""
    from sklearn.metrics import roc_auc_score

    values = []
    for t in range(y.shape[1]):
        keep = ~np.isnan(y[:, t])
        if keep.any() and len(np.unique(y[keep, t])) == 2:
            values.append(roc_auc_score(y[keep, t], score[keep, t]))
    return float(np.mean(values)) if values else float("nan")


def mean_average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """Mean over rows with a gold label of the average precision of ranking that row's labels by score (NaN if none)."""
    from medrnn.metrics.ranking import average_precision_rows

    gold = np.nan_to_num(y) > 0
    rows = gold.any(axis=1)
    return float(average_precision_rows(gold[rows], score[rows]).mean()) if rows.any() else float("nan")


class MultiTaskModule(L.LightningModule):
    """Trains any registered model with one output per task; logs val_roc_auc or val_rmse (scaled units).

    `config.monitor` is "val_loss", "val_map" (multi-label coding: mean over validation rows of the average precision
    of ranking the labels, CodiEsp's MAP per window) or anything else for the task-type metric (ROC-AUC or RMSE).
    """

    def __init__(self, model: nn.Module, config: TrainConfig, task_type: str) -> None:
        super().__init__()
        self.model, self.config, self.task_type = model, config, task_type
        self._val_logits: list[torch.Tensor] = []
        self._val_y: list[torch.Tensor] = []

    @property
    def monitor(self) -> tuple[str, str]:
        """(metric name, 'max' or 'min') that early stopping and checkpointing follow."""
        if self.config.monitor == "val_loss":
            return "val_loss", "min"
        if self.config.monitor == "val_map":
            return "val_map", "max"
        return ("val_roc_auc", "max") if self.task_type == "classification" else ("val_rmse", "min")

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.model(batch).logits

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = masked_loss(self(batch), batch.y, self.task_type)
        if self.config.l1 > 0:
            loss = loss + self.config.l1 * l1_penalty(self.model)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch.y.shape[0])
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits = self(batch)
        self.log("val_loss", masked_loss(logits, batch.y, self.task_type), prog_bar=True, batch_size=batch.y.shape[0])
        self._val_logits.append(logits.detach().float().cpu())
        self._val_y.append(batch.y.detach().cpu())

    def on_validation_epoch_end(self) -> None:
        if not self._val_logits:
            return
        logits, y = torch.cat(self._val_logits).numpy(), torch.cat(self._val_y).numpy()
        self._val_logits.clear()
        self._val_y.clear()
        if self.config.monitor == "val_map":
            self.log("val_map", mean_average_precision(y, logits), prog_bar=True)
        elif self.task_type == "classification":
            self.log("val_roc_auc", mean_auroc(y, logits), prog_bar=True)  # AUROC is rank-based: logits suffice
        else:
            mask = ~np.isnan(y)
            self.log("val_rmse", float(np.sqrt(np.mean((logits[mask] - y[mask]) ** 2))), prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_optimizer(self.model.parameters(), self.config)
