"""Resumable training without pickles: Lightning's full checkpoint (weights, optimizer, loops, callbacks, RNG and
sampler state) stored as safetensors (tensors) + JSON (everything else), written atomically after every validation.

Lightning's own checkpoints are `torch.save` pickles; medrnn never unpickles, so `SafetensorsCheckpointIO` flattens
the checkpoint dict instead (the structure goes to JSON with tagged tuples, int keys and arrays; no object is ever
constructed from the file but tensors, numbers and strings).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.plugins.io import CheckpointIO
from safetensors.torch import load_file, save_file

from medrnn.atomic import atomic_dir
from medrnn.errors import ArtifactError

TENSORS, STATE = "tensors.safetensors", "state.json"
RESUME = "resume"  # RUN/checkpoints/resume/


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able structure of `obj`; tensors and arrays are moved to `tensors` and referenced by name."""
    if isinstance(obj, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = obj.detach().cpu().contiguous()
        return {"__tensor__": name}
    if isinstance(obj, np.ndarray):
        name = f"t{len(tensors)}"
        tensors[name] = torch.from_numpy(np.ascontiguousarray(obj))
        return {"__ndarray__": name}
    if isinstance(obj, dict):
        return {"__dict__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else {"__float__": repr(obj)}
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return _encode(obj.item(), tensors)
    raise TypeError(f"checkpoint holds a {type(obj).__name__}, which medrnn does not store (only tensors, arrays, numbers, strings)")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy()
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__float__" in obj:
            return float(obj["__float__"])
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__dict__"]}
    return obj


class SafetensorsCheckpointIO(CheckpointIO):
    """Lightning CheckpointIO writing a folder (tensors.safetensors + state.json) instead of a pickle."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        tensors: dict[str, torch.Tensor] = {}
        state = _encode(checkpoint, tensors)
        with atomic_dir(path) as tmp:
            save_file(tensors, tmp / TENSORS)
            (tmp / STATE).write_text(json.dumps(state), encoding="utf-8")

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        path = Path(path)
        try:
            tensors = load_file(path / TENSORS)
            state = json.loads((path / STATE).read_text(encoding="utf-8"))
            return _decode(state, tensors)
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as err:
            raise ArtifactError(f"{path}: unreadable resume checkpoint ({type(err).__name__}: {err}); start the run afresh") from err

    def remove_checkpoint(self, path: Any) -> None:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def rng_state(generator: torch.Generator | None) -> dict[str, Any]:
    """Every random state training draws from: torch (CPU, CUDA), numpy, python, and the train loader's generator."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["loader"] = generator.get_state()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None) -> None:
    """Restore what `rng_state` captured."""
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "loader" in state:
        generator.set_state(state["loader"])


class ResumeCheckpoint(Checkpoint):
    """After every validation, the whole training state to RUN/checkpoints/resume (replaced atomically).

    A Checkpoint subclass, so Lightning runs it after early stopping and the best-weights callback have updated
    their state for the epoch. On resume the random states and the sampler's generator are put back, and a run that
    had already decided to stop stops again instead of training one more epoch.
    """

    def __init__(self, path: str | Path, train_loader: Any) -> None:
        self.path = Path(path)
        self.generator = getattr(train_loader, "generator", None)
        self._stop = False
        self._rng: dict[str, Any] | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        trainer.save_checkpoint(self.path)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint["medrnn"] = {"rng": rng_state(self.generator), "should_stop": bool(trainer.should_stop)}

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("medrnn", {})
        self._rng = saved.get("rng")
        self._stop = bool(saved.get("should_stop"))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._stop:
            trainer.should_stop = True

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # put the random states back only now: Lightning replays the end of the interrupted epoch first, which opens
        # (and discards) a train loader iterator, drawing from the sampler's generator
        if self._rng is not None:
            set_rng_state(self._rng, self.generator)
            self._rng = None
