"""Configuration of ICU mortality runs (PhysioNet 2012 in-hospital mortality); defaults are the recipe benchmarked."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medrnn.config.schema import ModelConfig, StrictConfig, TrainConfig


class IcuDataConfig(StrictConfig):
    """Which stays, how the irregular series is put on a grid, and how stays are split."""

    dataset: str = "physionet2012"
    sets: list[Literal["a", "b", "c"]] = ["a", "b", "c"]
    outcome: str = "In-hospital_death"
    hours: float = Field(48.0, gt=0, description="observation window from ICU admission; later rows are excluded and counted")
    bin_minutes: int = Field(60, ge=1, description="grid step: the last value in each bin is kept")
    # split: stratified train/val/test (Raindrop's P12 protocol); cv: stratified k-fold, val carved from the training folds
    protocol: Literal["split", "cv"] = "split"
    split_sizes: tuple[float, float, float] = (0.8, 0.1, 0.1)
    folds: int = Field(5, ge=2)
    fold: int = Field(0, ge=0)
    drop_empty: bool = True  # stays with descriptors only (12 in P12) are listed in the report and excluded
    # the first N stays read (file order, after drop_empty), for smoke runs and `--quick`; None: every stay
    max_stays: int | None = Field(None, ge=10)


class IcuModelConfig(ModelConfig):
    """GRU-D by default; gru/lstm/rnn read the same [values | mask | delta] channels; `fusion` fuses series and descriptors."""

    name: str = "gru_d"
    hidden_size: int | list[int] = 64
    dropout: float = Field(0.3, ge=0, lt=1)
    frontend: Literal["none"] = "none"  # 48 hourly steps: nothing to shorten
    head_hidden: int = 64
    # model "fusion" only (models/fusion.py): how the series and the descriptors meet, or one of them alone
    fusion: Literal["early", "concat", "late", "gated", "series", "static"] = "gated"
    branch: Literal["gru_d", "gru", "lstm", "rnn"] = Field("gru_d", description="fusion: the model reading the series")
    static_hidden: int = Field(32, ge=1, description="fusion: width of the descriptor encoder")
    modality_dropout: float = Field(0.1, ge=0, lt=1, description="fusion: chance a modality is hidden from a training sample")


class IcuTrainConfig(TrainConfig):
    """TrainConfig with defaults for mortality: BCE, early stopping on validation ROC-AUC."""

    batch_size: int = Field(64, ge=1)
    max_epochs: int = Field(40, ge=1)
    patience: int = Field(8, ge=1)
    monitor: Literal["auto", "val_loss"] = "auto"  # type: ignore[assignment]  # auto: validation ROC-AUC
    class_weighting: Literal["none"] = "none"  # type: ignore[assignment]
    augment: bool = False  # the ECG augmentations do not apply to ICU series
    weight_decay: float = Field(1e-4, ge=0)


class IcuRunConfig(StrictConfig):
    """Everything that defines one ICU run; written to config.yaml beside its outputs."""

    data: IcuDataConfig = IcuDataConfig()
    model: IcuModelConfig = IcuModelConfig()
    train: IcuTrainConfig = IcuTrainConfig()
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (by stay) for the CIs")
