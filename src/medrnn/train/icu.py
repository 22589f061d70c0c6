"""The ICU mortality job end to end: stays -> split (before fitting) -> grid, standardiser on train -> fit -> test.

One record is one ICU stay; PhysioNet 2012 gives no patient id across stays, so the split unit is the stay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn.data.batch import SequenceDataset, collate
from medrnn.data.splits import Split
from medrnn.data.stratified import stratified_fold, stratified_split
from medrnn.errors import ConfigError
from medrnn.models import build_model
from medrnn.predict import predict_sigmoid
from medrnn.records import IcuStay
from medrnn.tasks.icu_mortality.config import IcuRunConfig
from medrnn.train.fit import fit_module
from medrnn.train.multitask import MultiTaskModule
from medrnn.transforms.irregular import IrregularStandardizer, bin_stay, grud_inputs, raw_static, with_indicators
from medrnn.transforms.standardize import Standardizer


@dataclass
class IcuFeatures:
    """Fitted preprocessing (train stays only) and the arrays it gives for every stay."""

    x: np.ndarray  # (n, time, 3V) float32: [standardised values, 0 where missing | mask | hours since observed]
    static: np.ndarray  # (n, s) float32, standardised, missing -> 0 with an indicator column
    series_scaler: IrregularStandardizer
    static_scaler: Standardizer
    static_names: list[str]


def outcome_labels(stays: list[IcuStay], outcome: str) -> np.ndarray:
    """0/1 label per stay from its outcome record; a stay without it is an error naming the stay."""
    missing = [s.record_id for s in stays if outcome not in s.outcome or np.isnan(s.outcome[outcome])]
    if missing:
        raise ConfigError(f"outcome {outcome!r} missing for {len(missing)} stays (e.g. {missing[:5]}); is the Outcomes file present?")
    y = np.array([s.outcome[outcome] for s in stays], dtype=np.float32)
    bad = [s.record_id for s, v in zip(stays, y) if v not in (0.0, 1.0)]
    if bad:
        raise ConfigError(f"outcome {outcome!r} is not 0/1 for {len(bad)} stays (e.g. {bad[:5]}); a binary outcome is expected")
    return y


def make_icu_split(y: np.ndarray, config: IcuRunConfig, seed: int) -> Split:
    """Stratified holdout (protocol 'split') or fold `data.fold` of a stratified k-fold (protocol 'cv')."""
    d = config.data
    if d.protocol == "cv":
        return stratified_fold(y, d.folds, d.fold, seed=seed)
    return stratified_split(y, d.split_sizes, seed=seed)


def build_features(stays: list[IcuStay], train: np.ndarray, config: IcuRunConfig) -> IcuFeatures:
    """Bin every stay on the grid, fit both standardisers on the `train` stays, return the model arrays."""
    d = config.data
    binned = [bin_stay(s, hours=d.hours, bin_minutes=d.bin_minutes) for s in stays]
    series_scaler = IrregularStandardizer().fit([binned[i][0] for i in train])
    x = grud_inputs(stays, series_scaler, d.hours, d.bin_minutes, binned)
    raw, base_names = raw_static(stays)
    # a missing-indicator column for each descriptor missing somewhere in training (Height: 47 % of stays)
    names = base_names + [f"{n}_missing" for n, gap in zip(base_names, np.isnan(raw[train]).any(axis=0)) if gap]
    static = with_indicators(raw, base_names, names)
    static_scaler = Standardizer().fit(static[train])
    static = np.nan_to_num(static_scaler.transform(static), nan=0.0)  # mean imputation (0 after standardising)
    return IcuFeatures(x, static, series_scaler, static_scaler, names)


@dataclass
class IcuFitResult:
    model: nn.Module
    features: IcuFeatures
    split: Split
    y: np.ndarray
    test_prob: np.ndarray  # (n_test,) rows = split.test
    val_prob: np.ndarray
    train_seconds: float
    epochs: int
    seconds_per_epoch: float
    best_epoch: int | None
    best_val: float


def fit_icu_model(stays: list[IcuStay], config: IcuRunConfig, run_dir: str | Path, seed: int = 0, progress: bool = False) -> IcuFitResult:
    """Split (seeded, stratified), fit preprocessing on train, train with early stopping, score val and test."""
    run_dir = Path(run_dir)
    y = outcome_labels(stays, config.data.outcome)
    split = make_icu_split(y, config, seed)
    feats = build_features(stays, split.train, config)
    L.seed_everything(seed, workers=True, verbose=False)
    model = build_model(config.model.name, input_size=feats.x.shape[2], num_classes=1, num_static=feats.static.shape[1],
                        **config.model.model_dump(exclude={"name"}))  # fmt: skip
    train_cfg = config.train.model_copy(update={"seed": seed, "progress": progress})
    parts = {k: SequenceDataset(feats.x[idx], y[idx], feats.static[idx]) for k, idx in split._asdict().items()}
    gen = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(parts["train"], batch_size=train_cfg.batch_size, shuffle=True, collate_fn=collate, generator=gen)
    val_loader = DataLoader(parts["val"], batch_size=256, shuffle=False, collate_fn=collate)
    module = MultiTaskModule(model, train_cfg, "classification")
    start = time.perf_counter()
    fit = fit_module(module, train_loader, val_loader, train_cfg, run_dir, *module.monitor)
    seconds = time.perf_counter() - start
    test_prob, val_prob = predict_sigmoid(model, parts["test"])[:, 0], predict_sigmoid(model, parts["val"])[:, 0]
    return IcuFitResult(model, feats, split, y, test_prob, val_prob, seconds, fit.epochs, seconds / max(fit.epochs, 1),
                        fit.best_epoch, fit.best_score)  # fmt: skip

