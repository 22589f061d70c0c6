"""Configuration models: one pydantic class per concern, validated on construction."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medrnn.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


# MIT-BIH inter-patient protocol (de Chazal 2004); paced records 102 104 107 217 are in neither set.
# Records 201 (DS1) and 202 (DS2) come from one patient; the published split is kept as is so results
# stay comparable with the literature (SignalRecord.patient_id says so: mitdb_patient_id).
MITDB_DS1 = tuple("101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230".split())
MITDB_DS2 = tuple("100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234".split())


class BeatDataConfig(_Strict):
    """How beats are cut from a raw ECG: lead, window, filtering, RR context."""

    dataset: str = "mitdb"
    lead: str = "MLII"
    sfreq_hz: float = 360.0  # expected rate of the raw record; a different one is an error
    pre_s: float = Field(0.25, gt=0, description="window start before the R peak, seconds")
    post_s: float = Field(0.45, gt=0, description="window end after the R peak, seconds")
    filter: bool = True  # 0.5-40 Hz zero-phase band-pass: removes baseline wander and mains/EMG noise
    bandpass_hz: tuple[float, float] = (0.5, 40.0)
    downsample: int = Field(2, ge=1, description="keep every k-th sample after anti-alias filtering")
    rr_features: bool = True  # previous/next/local/record-mean RR, raw and as ratios
    local_rr_beats: int = Field(10, ge=1)
    # "raw": the beat window; "template": the beat minus the record's median beat (patient-adaptive);
    # "raw+template": both as two channels
    channels: Literal["raw", "template", "raw+template"] = "template"
    train_records: list[str] = list(MITDB_DS1)  # DS1: training, validation records held out of it
    test_records: list[str] = list(MITDB_DS2)  # DS2: touched only for the final evaluation
    val_records: int = Field(4, ge=1, description="training records held out (whole) for validation")


class ModelConfig(_Strict):
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


class TrainConfig(_Strict):
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


class RunConfig(_Strict):
    """Everything that defines one run; written to config.yaml beside its outputs."""

    data: BeatDataConfig = BeatDataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (by record) for the CIs")


def load_config(path: str | Path, kind: type[BaseModel] = RunConfig) -> Any:
    """Read a YAML run config of class `kind` (RunConfig, SmilesRunConfig), with errors naming the file and field."""
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
