"""One LightningModule for every task: the loss and the monitored metric follow the task's output kind.

multiclass: (class-weighted) cross-entropy, monitored by validation macro-F1 over the classes present;
binary / multilabel: BCE over labelled entries only (NaN = missing), monitored by validation ROC-AUC (or MAP);
regression: MSE over labelled entries, monitored by validation RMSE. A task may add loss terms (`ExtraLoss`), and
L1 is added on weight matrices; L2 is the optimiser's weight decay.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassF1Score

from medrnn.config import TrainConfig
from medrnn.data.batch import Batch
from medrnn.errors import ConfigError
from medrnn.tasks.base import OUTPUT_KINDS, ExtraLoss
from medrnn.train.losses import l1_penalty, make_optimizer, masked_loss, mean_auroc, mean_average_precision


class TaskModule(L.LightningModule):
    """Trains any registered model for a task of `output_kind`; logs train_loss, val_loss and the monitored metric."""

    def __init__(self, model: nn.Module, config: TrainConfig, output_kind: str, num_outputs: int,
                 class_weights: torch.Tensor | None = None, extra_loss: ExtraLoss | None = None,
                 augment: Callable[[Batch], Batch] | None = None) -> None:  # fmt: skip
        super().__init__()
        if output_kind not in OUTPUT_KINDS:
            raise ConfigError(f"output kind {output_kind!r}; valid: {', '.join(OUTPUT_KINDS)}")
        self.model, self.config, self.output_kind, self.num_outputs = model, config, output_kind, num_outputs
        self.extra_loss = extra_loss
        self.augment = augment  # the task's batch augmentation (`Task.batch_augment`), None: none
        if output_kind == "multiclass":
            self.register_buffer("class_weights", class_weights if class_weights is not None else torch.ones(num_outputs))
            # per-class F1 on validation; macro over the classes present (AAMI Q has a handful of beats)
            # every DDP rank validates on the whole set (train/distributed.py): nothing to sum across ranks
            self.val_f1 = MulticlassF1Score(num_classes=num_outputs, average=None, sync_on_compute=False)
            self.register_buffer("val_support", torch.zeros(num_outputs))
        self._val_logits: list[torch.Tensor] = []
        self._val_y: list[torch.Tensor] = []

    @property
    def monitor(self) -> tuple[str, str]:
        """(metric name, 'max' or 'min') that early stopping and checkpointing follow."""
        wanted = self.config.monitor
        if wanted in ("val_loss", "val_rmse"):
            return wanted, "min"
        if wanted in ("val_map", "val_macro_f1", "val_roc_auc"):
            return wanted, "max"
        if self.output_kind == "multiclass":
            return "val_macro_f1", "max"
        return ("val_rmse", "min") if self.output_kind == "regression" else ("val_roc_auc", "max")

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.model(batch).logits

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.output_kind == "multiclass":
            return F.cross_entropy(logits, y, weight=self.class_weights)
        return masked_loss(logits, y, "regression" if self.output_kind == "regression" else "classification")

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        if self.augment is not None:
            batch = self.augment(batch)
        out = self.model(batch)
        loss = self._loss(out.logits, batch.y)
        if self.extra_loss is not None:
            extra = self.extra_loss(out, batch)
            self.log("train_output_loss", loss, batch_size=batch.y.shape[0])
            self.log(f"train_{self.extra_loss.name}_loss", extra, batch_size=batch.y.shape[0])
            loss = loss + self.extra_loss.weight * extra
        if self.config.l1 > 0:
            loss = loss + self.config.l1 * l1_penalty(self.model)
        self.log("train_loss", loss, prog_bar=True, batch_size=batch.y.shape[0])
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits = self(batch)
        self.log("val_loss", self._loss(logits, batch.y), prog_bar=True, batch_size=batch.y.shape[0], sync_dist=True)
        if self.output_kind == "multiclass":
            self.val_f1.update(logits, batch.y)
            self.val_support += torch.bincount(batch.y, minlength=self.num_outputs).to(self.val_support)
            return
        self._val_logits.append(logits.detach().float().cpu())
        self._val_y.append(batch.y.detach().cpu())

    def on_validation_epoch_end(self) -> None:
        if self.output_kind == "multiclass":
            per_class = self.val_f1.compute()
            present = self.val_support > 0
            macro = per_class[present].mean() if present.any() else per_class.mean()
            self.log("val_macro_f1", macro, prog_bar=True, sync_dist=True)
            self.val_f1.reset()
            self.val_support.zero_()
            return
        if not self._val_logits:
            return
        logits, y = torch.cat(self._val_logits), torch.cat(self._val_y)
        self._val_logits.clear()
        self._val_y.clear()
        logits, y = logits.numpy(), y.numpy()  # DDP: each rank holds the whole validation set (it is not sharded)
        # sync_dist: the ranks' values agree; the mean makes them bitwise equal, so early stopping and the best epoch do too
        if self.config.monitor == "val_map":
            self.log("val_map", mean_average_precision(y, logits), prog_bar=True, sync_dist=True)
        elif self.output_kind == "regression":
            mask = ~np.isnan(y)
            self.log("val_rmse", float(np.sqrt(np.mean((logits[mask] - y[mask]) ** 2))), prog_bar=True, sync_dist=True)
        else:
            self.log("val_roc_auc", mean_auroc(y, logits), prog_bar=True, sync_dist=True)  # AUROC is rank-based: logits suffice

    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer alone (federated rounds step it themselves; the LR schedule is Lightning's, per epoch)."""
        return make_optimizer(self.model.parameters(), self.config)

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer()
        if getattr(self.config, "lr_schedule", "none") != "plateau":
            return optimizer
        name, mode = self.monitor
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=self.config.lr_factor,
                                                               patience=self.config.lr_patience)  # fmt: skip
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": name, "interval": "epoch"}}
