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
    augment: bool = True  # random gain, noise and time jitter on training beats
    accelerator: str = "auto"
    devices: str | int = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    progress: bool = True
    num_workers: int = 0


def load_config(path: str | Path, kind: type[BaseModel]) -> Any:
    """Read a YAML run config of class `kind` (a task's config_class), with errors naming the file and field."""
    path = Path(path)
    try:
        raw: Any = yaml.safe_load(path.read_text()) or {}
        return kind.model_validate(raw)
    except (yaml.YAMLError, OSError) as err:
        raise ConfigError(f"{path}: cannot read YAML config ({err})") from err
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid config\n{err}") from err


def save_config(config: BaseModel, path: str | Path) -> Path:
    """Write the resolved config as YAML (every default spelled out)."""
    path = Path(path)
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    return path
