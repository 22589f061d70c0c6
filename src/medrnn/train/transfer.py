"""Transfer learning for every task: start a model from the encoder of another artifact (`--init-from`), keep parts of
it fixed (`--freeze`), and let them train later (`--unfreeze-after`).

The encoder is every parameter outside the model's `classifier` (every model's `head()` reads only that module). A
parameter is copied when the source has one of the same name and shape; a token embedding is copied row by row for the
tokens both vocabularies hold (`Pipeline.tokens()`), so a new vocabulary does not misalign it. Encoder parameters the
source lacks (a pretrained first layer only, a shallower model) start fresh and are listed in metrics.json; a shape
mismatch is refused, naming the parameter, both shapes and the usual cause.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from medrnn.errors import ConfigError

log = logging.getLogger(__name__)
HEAD = "classifier"
EMBEDDING = "embedding.weight"
FREEZE_CHOICES = "encoder, frontend, or a number N (the embedding or front-end and the first N recurrent layers)"


def is_head(name: str) -> bool:
    """True for parameters of the model's head (never transferred, never frozen)."""
    return name == HEAD or name.startswith(HEAD + ".")


def load_source(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[str] | None]:
    """The source artifact's weights (CPU), metadata and vocabulary tokens (None when its inputs are not tokens)."""
    from medrnn.artifact import load_artifact
    from medrnn.predict import is_ensemble, resolve_artifact
    from medrnn.tasks.base import get_task

    folder = resolve_artifact(path)
    if is_ensemble(folder):
        raise ConfigError(f"--init-from {path}: is an ensemble; give one member's artifact (RUN/model)")
    if not (folder / "artifact.json").exists():
        raise ConfigError(f"--init-from {path}: no artifact there (expected RUN, RUN/model or a folder with artifact.json)")
    model, meta = load_artifact(folder, device="cpu")
    tokens = None
    try:
        tokens = get_task(meta["task"]).pipeline_from_state(meta["preprocessing"]).tokens()
    except Exception:  # noqa: BLE001  the source's pipeline is only needed for its tokens; weights still transfer by shape
        tokens = None
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, meta, tokens


def source_preprocessing(path: str | Path) -> dict[str, Any]:
    """The preprocessing state (artifact.json `preprocessing`) of an `--init-from` source, checksums verified."""
    from medrnn.artifact import read_metadata
    from medrnn.predict import resolve_artifact

    return dict(read_metadata(resolve_artifact(path)).get("preprocessing") or {})


def init_from(model: nn.Module, path: str | Path, target_tokens: list[str] | None = None) -> dict[str, Any]:
    """Copy the encoder of the artifact at `path` into `model` (in place); returns what was copied, for metrics.json.

    An artifact written by `medrnn pretrain` names the parameters it pretrained (`transfer.parameters`); only those move.
    """
    state, meta, source_tokens = load_source(path)
    only = (meta.get("transfer") or {}).get("parameters")
    if only is not None:
        state = {k: v for k, v in state.items() if k in set(only)}
    report = copy_encoder(model, state, source_tokens, target_tokens, f"--init-from {path}",
                          f"a {meta.get('model', {}).get('name', '?')!r} model of task {meta.get('task')!r}")  # fmt: skip
    return {"from": str(path), "source_task": meta.get("task"), **report}


def copy_encoder(model: nn.Module, state: dict[str, torch.Tensor], source_tokens: list[str] | None, target_tokens: list[str] | None,
                 where: str, source: str = "the source") -> dict[str, Any]:  # fmt: skip
    """Copy the encoder parameters `state` holds into `model` (in place; the head never); embedding rows by token."""
    own = model.state_dict()
    copied: list[str] = []
    missing: list[str] = []
    embedding_rows = None
    for name, value in own.items():
        if is_head(name.split(".")[0]):
            continue
        if name not in state:
            missing.append(name)  # a partial source (a pretrained first layer, a shallower model): this one starts fresh
            continue
        theirs = state[name]
        if name == EMBEDDING:  # rows (nn.Embedding) or columns (a linear code embedding) follow the input vocabulary
            if source_tokens is None or target_tokens is None:
                raise ConfigError(f"{where}: cannot align the input embedding: the vocabulary of "
                                  f"{'the source' if source_tokens is None else 'this run'} is unknown")  # fmt: skip
            by_column = isinstance(model.get_submodule("embedding"), nn.Linear)
            embedding_rows = copy_rows(value.T if by_column else value, theirs.T if by_column else theirs, source_tokens, target_tokens)
            copied.append(name)
            continue
        if tuple(theirs.shape) != tuple(value.shape):
            raise ConfigError(f"{where}: parameter {name!r} is {tuple(theirs.shape)} there and {tuple(value.shape)} here; "
                              f"{mismatch_hint(name)}")  # fmt: skip
        value.copy_(theirs)
        copied.append(name)
    if not copied:
        raise ConfigError(f"{where}: none of this model's encoder parameters ({type(model).__name__}, e.g. {missing[:2]}) is "
                          f"there; the source is {source}: train with the same model and layer names (--model, --set model.*)")  # fmt: skip
    model.load_state_dict(own)
    report: dict[str, Any] = {"parameters": len(copied), "values": int(sum(own[n].numel() for n in copied)), "not_in_source": missing}
    if embedding_rows is not None:
        report["embedding_rows"] = embedding_rows
    if missing:
        log.info("%s: %d encoder parameters are not in the source and start fresh (e.g. %s)", where, len(missing), missing[:3])
    return report


def copy_rows(target: torch.Tensor, source: torch.Tensor, source_tokens: list[str], target_tokens: list[str]) -> dict[str, int]:
    """Embedding rows copied token by token, in place (padding and tokens the source never saw keep their values)."""
    if source.shape[1] != target.shape[1]:
        raise ConfigError(f"--init-from: embedding width is {source.shape[1]} there and {target.shape[1]} here; "
                          "use the same embedding width (model.embedding_dim; data.embedding_dim for notes)")  # fmt: skip
    where = {tok: i for i, tok in enumerate(source_tokens)}
    shared = 0
    for j, tok in enumerate(target_tokens):
        i = where.get(tok)
        if i is not None and i < source.shape[0] and j < target.shape[0]:
            target[j] = source[i]
            shared += 1
    return {"shared_tokens": shared, "target_tokens": len(target_tokens)}


def mismatch_hint(name: str) -> str:
    """The usual cause of a shape mismatch in parameter `name`."""
    if name.startswith("frontend.layers.0") or re.match(r"(forward|backward)_layers\.0\.weight_ih", name):
        return "the inputs differ (leads, channels or features per step): read the same inputs as the source"
    if name.startswith(("attention", "label_attention")):
        return "the attention or the label set differs: use the same model.attention_size (label attention cannot move to new labels)"
    return "the layer sizes differ: use the source's model settings (hidden_size, num_layers, bidirectional, frontend_*)"


def frozen_names(model: nn.Module, freeze: str | None) -> list[str]:
    """Names of the parameters `--freeze` keeps fixed: encoder (all but the head), frontend (embedding or conv front-end),
    or N (those and the first N recurrent layers)."""
    if freeze is None:
        return []
    names = [n for n, _ in model.named_parameters() if not is_head(n.split(".")[0])]
    front = [n for n in names if n.startswith(("embedding.", "frontend."))]
    if freeze == "encoder":
        return names
    if freeze == "frontend":
        if not front:
            raise ConfigError(f"--freeze frontend: {type(model).__name__} has no embedding or conv front-end; use encoder or N")
        return front
    if not freeze.isdigit() or int(freeze) < 1:
        raise ConfigError(f"--freeze {freeze!r}: expected {FREEZE_CHOICES}")
    n = int(freeze)
    layers = sorted({int(m.group(2)) for x in names if (m := re.match(r"(forward_layers|backward_layers)\.(\d+)\.", x))})
    if not layers:
        raise ConfigError(f"--freeze {freeze}: {type(model).__name__} has no stacked recurrent layers; use encoder or frontend")
    if n > len(layers):
        raise ConfigError(f"--freeze {freeze}: the model has {len(layers)} recurrent layers")
    pattern = re.compile(r"(forward_layers|backward_layers)\.(\d+)\.")
    return front + [x for x in names if (m := pattern.match(x)) and int(m.group(2)) < n]


def freeze(model: nn.Module, names: list[str], frozen: bool = True) -> None:
    """Stop (or restart) gradients for the named parameters."""
    wanted = set(names)
    for name, param in model.named_parameters():
        if name in wanted:
            param.requires_grad_(not frozen)


class Unfreeze(L.Callback):
    """Lets the frozen parameters train from epoch `after` on (the optimiser holds them from the start; frozen ones
    get no gradient, so it skips them until then)."""

    def __init__(self, names: list[str], after: int) -> None:
        self.names, self.after = names, after

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Unfreeze at the start of epoch `after`."""
        if trainer.current_epoch == self.after:
            freeze(pl_module.model, self.names, frozen=False)


def apply_transfer(model: nn.Module, train: Any, pipeline: Any) -> tuple[dict[str, Any] | None, list[L.Callback]]:
    """`train.init_from` / `freeze` / `unfreeze_after` applied to a freshly built model: (report for metrics.json, callbacks)."""
    source, spec, after = getattr(train, "init_from", None), getattr(train, "freeze", None), getattr(train, "unfreeze_after", None)
    if spec is not None and source is None:
        raise ConfigError(f"--freeze {spec}: freezing keeps transferred weights fixed; give --init-from ARTIFACT too")
    if after is not None and spec is None:
        raise ConfigError(f"--unfreeze-after {after}: nothing is frozen; give --freeze too")
    if source is None:
        return None, []
    report = init_from(model, source, pipeline.tokens())
    names = frozen_names(model, spec)
    freeze(model, names)
    report.update({"frozen": spec, "frozen_parameters": len(names), "unfreeze_after": after})
    return report, [Unfreeze(names, after)] if names and after is not None else []
