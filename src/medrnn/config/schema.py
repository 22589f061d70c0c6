"""Configuration models: one pydantic class per concern, validated on construction."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medrnn.errors import ConfigError


class StrictConfig(BaseModel):
    """A config section that refuses unknown keys (a typo in a YAML file is an error, not a silent default)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class ModelConfig(StrictConfig):
    """Which registered model and its constructor arguments (PyTorch names)."""

    name: str = "lstm"
    hidden_size: int | list[int] = 64
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = Field(0.2, ge=0, lt=1)
    attention: bool = False
    attention_size: int = 32
    frontend: Literal["none", "conv"] = "conv"
    frontend_channels: int = 32
    frontend_layers: int = 2
    frontend_stride: int = 2
    head_hidden: int = 64


class TrainConfig(StrictConfig):
    """Optimisation, regularisation, imbalance handling and the Lightning hardware options."""

    seed: int = 0
    deterministic: bool = True
    optimizer: Literal["adam", "sgd", "rmsprop"] = "adam"
    lr: float = Field(1e-3, gt=0)
    momentum: float = 0.9  # sgd / rmsprop only
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty")
    l1: float = Field(0.0, ge=0, description="L1 penalty on weights")
    batch_size: int = Field(256, ge=1)
    max_epochs: int = Field(15, ge=1)
    patience: int = Field(4, ge=1)
    monitor: Literal["val_macro_f1", "val_loss"] = "val_macro_f1"
    class_weighting: Literal["none", "balanced", "sqrt"] = "balanced"
    sampler: Literal["none", "balanced"] = "none"
    augment: bool = True  # the task's batch augmentation (Task.batch_augment; signal worlds: gain, noise, jitter)
    accelerator: str = "auto"
    devices: str | int = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    progress: bool = True
    num_workers: int = 0
    calibration: Literal["auto", "temperature", "platt", "isotonic", "none"] = Field(
        "auto", description="post-hoc probability calibration fitted on validation and stored in the artifact: auto = temperature "
        "scaling for multiclass, Platt per label for binary/multilabel; none keeps the raw probabilities")
    explain: int = Field(3, ge=0, description="test samples explained (Integrated Gradients, with faithfulness checks) into "
                         "RUN/explain/ for the report; 0: none")
    init_from: str | None = Field(None, description="artifact or run folder whose encoder (all but the head) initialises the "
                                  "model: transfer learning (docs/transfer.md)")
    freeze: str | None = Field(None, description="with init_from: encoder | frontend | N (embedding or front-end and the first N "
                               "recurrent layers) kept fixed")
    unfreeze_after: int | None = Field(None, ge=1, description="epochs after which the frozen parameters train too")
    train_fraction: float = Field(1.0, gt=0, le=1, description="share of the training samples used (seeded; learning curves); "
                                  "validation and test are unchanged")
    threads: int | None = Field(None, ge=1, description="CPU threads torch uses (default: torch's own choice, all cores)")
    lr_schedule: Literal["none", "plateau"] = Field("none", description="plateau: multiply the learning rate by lr_factor when "
                                                    "the monitored validation metric has not improved for lr_patience epochs")
    lr_factor: float = Field(0.5, gt=0, lt=1)
    lr_patience: int = Field(3, ge=0)


class VolumeAugmentConfig(StrictConfig):
    """Training augmentation of slice stacks (transforms/volume_augment.py; rotation and intensity by MONAI), one draw
    per volume, seeded by the run seed; 0 (or false) turns each off. Mixed into the train section of the imaging worlds.
    The defaults are the benchmarked recipe (flips and turns only); the others are opt-in until measured."""

    flip: bool = True  # random horizontal flip and 90-degree turn of every slice alike
    rotate_deg: float = Field(0.0, ge=0, le=180, description="in-plane rotation drawn from +-rotate_deg degrees (e.g. 10); 0: off")
    intensity_scale: float = Field(0.0, ge=0, lt=1, description="image grey levels times 1 +- up to this (e.g. 0.1); 0: off")
    intensity_shift: float = Field(0.0, ge=0, description="image grey levels plus +- up to this (standardised units, e.g. 0.1); 0: off")
    slice_dropout: float = Field(0.0, ge=0, le=1, description="probability of removing one random slice of a stack (never "
                                 "the last one; e.g. 0.2); 0: off")


MAX_CONFIG_BYTES = 1 << 20  # a run config is a few KB; a larger file is not one


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors and aliases: a run config never needs them, and nested aliases expand exponentially."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            raise ConfigError(f"{self.name}: line {mark.line + 1}: YAML anchors and aliases (&name, *name) are not allowed in a "
                              "medrnn config; write the values out")  # fmt: skip
        return super().compose_node(parent, index)


def read_yaml(path: str | Path, what: str = "YAML config") -> Any:
    """Parse a YAML file: UTF-8, at most 1 MB, no anchors/aliases; every failure is a ConfigError naming the file."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: is a folder, expected a {what} file")
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size:,} bytes; a {what} is at most {MAX_CONFIG_BYTES:,}")
        text = path.read_bytes().decode("utf-8")
        loader = _NoAliasLoader(text)
        loader.name = str(path)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save the {what} as UTF-8") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: cannot read {what} ({' '.join(str(err).split())})") from err
    except RecursionError as err:
        raise ConfigError(f"{path}: {what} nested too deeply") from err
    except ValueError as err:  # e.g. an integer of thousands of digits (Python's int conversion limit)
        raise ConfigError(f"{path}: not a valid {what} ({err})") from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read {what} ({type(err).__name__}: {err})") from err


def load_config(path: str | Path, kind: type[BaseModel]) -> Any:
    """Read a YAML run config of class `kind` (a task's config_class), with errors naming the file and field."""
    path = Path(path)
    raw: Any = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: holds a YAML {type(raw).__name__}, expected a mapping of config sections")
    try:
        return kind.model_validate(raw)
    except ValidationError as err:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {str(e.get('input'))[:80]!r})" for e in err.errors()[:10]]
        raise ConfigError(f"{path}: invalid config\n  " + "\n  ".join(lines)) from None


def save_config(config: BaseModel, path: str | Path) -> Path:
    """Write the resolved config as YAML (every default spelled out), atomically."""
    from medrnn.atomic import write_text

    return write_text(path, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
