"""Best-weights checkpoint in safetensors, chosen on a validation metric.

Lightning's ModelCheckpoint writes pickles (torch.save); medrnn never unpickles, so the best weights
are kept the same way every artifact is: a safetensors file, reloaded without executing anything.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
from safetensors.torch import load_file, save_file

from medrnn.atomic import atomic_path


class SafetensorsCheckpoint(L.Callback):
    """After each validation, write the module's weights to `path` when `monitor` improves."""

    def __init__(self, path: str | Path, monitor: str, mode: str = "max") -> None:
        self.path, self.monitor, self.mode = Path(path), monitor, mode
        self.best_score: float | None = None
        self.best_epoch: int | None = None

    def _better(self, score: float) -> bool:
        if math.isnan(score):
            return False
        if self.best_score is None:
            return True
        return score > self.best_score if self.mode == "max" else score < self.best_score

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])  # synced across DDP ranks (logged with sync_dist)
        if not self._better(score):
            return
        self.best_score, self.best_epoch = score, trainer.current_epoch  # every rank keeps the same record; rank 0 writes
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.path) as tmp:
                save_file({k: v.detach().cpu().contiguous() for k, v in pl_module.state_dict().items()}, tmp)

    def state_dict(self) -> dict[str, float | int | None]:
        """Best score and epoch so far (saved in the resume checkpoint)."""
        return {"best_score": self.best_score, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, float | int | None]) -> None:
        """Put back what `state_dict` gave (resume)."""
        self.best_score, self.best_epoch = state_dict.get("best_score"), state_dict.get("best_epoch")  # type: ignore[assignment]

    def restore(self, pl_module: L.LightningModule) -> None:
        """Load the best weights back into the module (no-op if validation never ran)."""
        if self.path.exists():
            pl_module.load_state_dict(load_file(self.path))
