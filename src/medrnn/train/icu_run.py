"""`medrnn train icu`: read stays, fit, evaluate once on test, and write the run folder (config, metrics, artifact)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.artifact import save_artifact
from medrnn.config import save_config
from medrnn.errors import ConfigError
from medrnn.io.physionet2012 import VARIABLES, read_physionet2012
from medrnn.metrics.calibration import calibration_report
from medrnn.metrics.molecules import evaluate_molecules
from medrnn.tasks.icu_mortality.config import IcuRunConfig
from medrnn.train.icu import IcuFitResult, fit_icu_model
from medrnn.transforms.irregular import n_after_window

log = logging.getLogger(__name__)


def icu_preprocessing(fit: IcuFitResult, config: IcuRunConfig) -> dict[str, Any]:
    """Everything a predictor needs to turn a raw stay file into the model's input, as plain JSON."""
    f = fit.features
    return {"variables": list(VARIABLES), "hours": config.data.hours, "bin_minutes": config.data.bin_minutes,
            "series_scaler": f.series_scaler.state_dict(), "static_scaler": f.static_scaler.state_dict(),
            "static_names": f.static_names, "outcome": config.data.outcome,
            "layout": "x = [standardised values, 0 where missing | observation mask | hours since last observation]"}  # fmt: skip


def run_icu_experiment(config: IcuRunConfig, run_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Train on the training stays, pick the epoch on validation, evaluate once on test; write the run folder."""
    if config.data.dataset != "physionet2012":
        raise ConfigError(f"data.dataset {config.data.dataset!r}: the ICU job reads 'physionet2012' (PhysioNet/CinC 2012 layout)")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    seed = config.train.seed
    stays, read_report = read_physionet2012(sets=tuple(config.data.sets), progress=progress)
    for source, reason in read_report.failures.items():
        log.warning("%s not read: %s", source, reason)
    if config.data.drop_empty:
        log.info("%d stays without any time series excluded: %s", len(read_report.no_time_series), read_report.no_time_series)
        stays = [s for s in stays if len(s) > 0]
    after_window = sum(n_after_window(s, config.data.hours) for s in stays)
    if after_window:
        log.info("%d observations after the first %g h left out of the grid", after_window, config.data.hours)
    fit = fit_icu_model(stays, config, run_dir, seed=seed, progress=progress)
    y_test = fit.y[fit.split.test]
    t0 = time.perf_counter()
    report = evaluate_molecules(y_test, fit.test_prob, [config.data.outcome], "classification", n_boot=config.bootstrap, seed=seed)
    calibration = calibration_report(y_test, fit.test_prob)
    ids = [stays[i].record_id for i in fit.split.test]
    save_artifact(run_dir / "model", fit.model, icu_preprocessing(fit, config), [config.data.outcome],
                  [stays[i].record_id for i in fit.split.train],
                  extra={"task": "icu_mortality", "dataset": "physionet2012",
                         "split": {"protocol": config.data.protocol, "seed": seed}})  # fmt: skip
    np.savez(run_dir / "predictions.npz", record_id=np.array(ids), y_true=y_test, y_score=fit.test_prob)
    counts = {k: int(len(v)) for k, v in fit.split._asdict().items()}
    metrics = {
        "kind": "icu",
        "dataset": "physionet2012",
        "sets": list(config.data.sets),
        "model": config.model.name,
        "split": {"protocol": config.data.protocol, "seed": seed, "counts": counts,
                  "deaths": {k: int(fit.y[v].sum()) for k, v in fit.split._asdict().items()}},
        "test": report.to_dict(),
        "calibration": calibration,
        "data": {"read": read_report.to_dict(), "observations_after_window": after_window, "window_hours": config.data.hours},
        "training": {"epochs": fit.epochs, "best_epoch": fit.best_epoch, "best_val": fit.best_val},
        "timings": {"train_seconds": fit.train_seconds, "seconds_per_epoch": fit.seconds_per_epoch,
                    "evaluate_seconds": time.perf_counter() - t0},
    }  # fmt: skip
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=_jsonable))
    return metrics


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
