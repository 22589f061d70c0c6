"""The beat-classification job end to end: DS1 -> train/validation by record, DS2 -> test, artifact, report files."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np

from medrnn import paths
from medrnn.artifact import save_artifact
from medrnn.config import save_config
from medrnn.data.batch import BeatDataset
from medrnn.io import read_wfdb
from medrnn.metrics import evaluate
from medrnn.models import create_model
from medrnn.predict import predict_proba
from medrnn.tasks.ecg_beats.beats import AAMI_CLASSES, BeatSet
from medrnn.tasks.ecg_beats.config import BeatRunConfig
from medrnn.tasks.ecg_beats.data import load_beats, split_validation_records
from medrnn.train.fit import fit_classifier
from medrnn.transforms import RR_FEATURE_NAMES, Standardizer

log = logging.getLogger(__name__)


@dataclass
class ExperimentResult:
    run_dir: Path
    metrics: dict[str, Any]  # the test MetricReport as a dict
    counts: dict[str, dict[str, int]]
    timings: dict[str, float]
    val_records: tuple[str, ...]
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    read_errors: dict[str, str] = field(default_factory=dict)


def _strip(beats: BeatSet, probs: np.ndarray, config: BeatRunConfig, window_s: float = 10.0) -> dict[str, Any]:
    """Pick the 10 s test strip with the most non-N reference beats, for the report's ECG plot."""
    best_rec, best_start, best_n = str(beats.record[0]), int(beats.sample[0]), -1
    win = int(window_s * config.data.sfreq_hz)
    for rec in np.unique(beats.record):
        sel = beats.record == rec
        samples = beats.sample[sel]
        abnormal_before = np.concatenate([[0], np.cumsum(beats.y[sel] > 0)])  # abnormal beats before index i
        counts = abnormal_before[np.searchsorted(samples, samples + win)] - abnormal_before[:-1]  # in [s_i, s_i + win)
        i = int(np.argmax(counts))
        if counts[i] > best_n:
            best_rec, best_start, best_n = str(rec), int(samples[i]) - int(0.5 * config.data.sfreq_hz), int(counts[i])
    record = read_wfdb(paths.dataset_dir(config.data.dataset) / best_rec, leads=[config.data.lead])
    start = max(best_start, 0)
    stop = min(start + win, record.n_samples)
    sel = (beats.record == best_rec) & (beats.sample >= start) & (beats.sample < stop)
    return {
        "signal": record.lead(config.data.lead)[start:stop].astype(np.float32),
        "sfreq_hz": record.sfreq_hz,
        "beat_sample": beats.sample[sel] - start,
        "beat_pred": probs[sel].argmax(axis=1),
        "beat_true": beats.y[sel],
        "record_id": best_rec,
        "start_s": start / record.sfreq_hz,
        "class_names": np.array(AAMI_CLASSES),
    }


def run_beat_experiment(config: BeatRunConfig, run_dir: str | Path, progress: bool = True) -> ExperimentResult:
    """Train on the training records (validation held out by record), evaluate once on the test records."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    data_cfg, classes = config.data, list(AAMI_CLASSES)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    train_all, errors = load_beats(data_cfg.train_records, data_cfg, progress=progress)
    test, test_errors = load_beats(data_cfg.test_records, data_cfg, progress=progress)
    errors.update(test_errors)
    timings["read_seconds"] = time.perf_counter() - t0
    for rid, err in errors.items():
        log.warning("record %s skipped: %s", rid, err)

    L.seed_everything(config.train.seed, workers=True, verbose=False)  # before the model initialises its weights
    train_ids, val_ids = split_validation_records(train_all, data_cfg.val_records, config.train.seed)
    train = train_all.subset(np.isin(train_all.record, train_ids))
    val = train_all.subset(np.isin(train_all.record, val_ids))
    counts = {"train+val": train_all.class_counts(), "train": train.class_counts(), "val": val.class_counts(), "test": test.class_counts()}
    dropped = {"train+val": train_all.dropped, "test": test.dropped}

    scaler = Standardizer().fit(train.rr) if data_cfg.rr_features else None
    static = (lambda b: scaler.transform(b.rr)) if scaler else (lambda b: None)
    model_cfg = config.model.model_dump()
    name = model_cfg.pop("name")
    model = create_model(
        name, input_size=train.x.shape[2], num_classes=len(classes), num_static=len(RR_FEATURE_NAMES) if scaler else 0, **model_cfg
    )
    fit = fit_classifier(
        model,
        BeatDataset(train.x, static(train), train.y),
        BeatDataset(val.x, static(val), val.y),
        train.y,
        len(classes),
        config.train,
        run_dir,
    )
    timings["train_seconds"] = fit.seconds

    t0 = time.perf_counter()
    probs, _ = predict_proba(fit.module.model, test.x, static(test))
    timings["test_inference_seconds"] = time.perf_counter() - t0
    timings["inference_ms_per_beat"] = 1000 * timings["test_inference_seconds"] / max(len(test), 1)
    t0 = time.perf_counter()
    report = evaluate(test.y, probs, classes, groups=test.record, n_boot=config.bootstrap, seed=config.train.seed)
    timings["evaluate_seconds"] = time.perf_counter() - t0

    preprocessing = {
        "beats": data_cfg.model_dump(mode="json"),
        "rr_scaler": scaler.state_dict() if scaler else None,
        "rr_feature_names": list(RR_FEATURE_NAMES) if scaler else [],
    }
    save_artifact(
        run_dir / "model",
        fit.module.model,
        preprocessing,
        classes,
        [f"mitdb/{r}" for r in train_ids],
        extra={"validation_records": list(val_ids), "best_val": {config.train.monitor: fit.best_score}},
    )
    np.savez(
        run_dir / "predictions.npz", y_true=test.y, y_score=probs.astype(np.float32), groups=test.record.astype(str), sample=test.sample
    )
    np.savez(run_dir / "strip.npz", **_strip(test, probs, config))
    metrics = {
        "test": report.to_dict(),
        "data": {
            "counts": counts,
            "dropped_beats": dropped,
            "read_errors": errors,
            "validation_records": list(val_ids),
            "train_records": list(train_ids),
            "test_records": list(data_cfg.test_records),
        },
        "training": {"epochs": fit.epochs, "best_epoch": fit.best_epoch, "best_val": fit.best_score, "monitor": config.train.monitor},
        "timings": timings,
    }
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return ExperimentResult(run_dir, metrics["test"], counts, timings, val_ids, dropped, errors)
