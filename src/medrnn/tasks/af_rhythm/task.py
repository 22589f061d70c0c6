"""AF rhythm (PhysioNet/CinC Challenge 2017): one short single-lead ECG (9-61 s at 300 Hz) -> N (normal), A (AF),
O (other rhythm) or ~ (too noisy). A CRNN (strided conv front-end -> bidirectional LSTM -> attention pooling) reads the
whole record; batches group records of similar length. Ranked by the challenge score: mean F1 of N, A and O."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn import paths
from medrnn.data.loaders import class_weights
from medrnn.data.sampling import LengthBucketSampler
from medrnn.data.splits import Split
from medrnn.data.stratified import stratified_fold, stratified_split
from medrnn.datasets import DATASETS, missing_under_root
from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.metrics import evaluate
from medrnn.metrics.bootstrap import percentile_interval
from medrnn.models import build_model
from medrnn.tasks.af_rhythm import explain as explaining
from medrnn.tasks.af_rhythm.config import AfRunConfig
from medrnn.tasks.af_rhythm.data import (CLASSES, AfDataset, AfRecords, collate_grid, lead_signal, load_records, model_input,
                                         read_record, to_rate)  # fmt: skip
from medrnn.tasks.af_rhythm.pipeline import AfPipeline
from medrnn.tasks.af_rhythm.predict import predict_proba
from medrnn.tasks.af_rhythm.report import af_sections
from medrnn.tasks.base import InputItem, Scores, Section, Task, TaskData, TaskOption, as_index, register_task
from medrnn.train.augment import augment_batch

CHALLENGE_CLASSES = ("N", "A", "O")  # the challenge score leaves ~ out
VAL_BATCH_SIZE = 64


@register_task
class AfRhythmTask(Task):
    """A single-lead ECG record -> N, A, O or ~ (PhysioNet/CinC 2017), scored by the challenge F1."""

    name = "af_rhythm"
    aliases = ("cinc2017", "af")
    title = "Single-lead ECG records -> N / AF / other rhythm / noisy (PhysioNet/CinC 2017, CRNN)"
    data = "cinc2017_af (first 4,000 training records under the data root) or cinc2017 (all 8,528; WFDB .hea + .mat, REFERENCE csv)"
    readers = ("read_wfdb",)
    split_unit = "record (one recording per record; the challenge gives no patient id)"
    output_kinds = ("multiclass",)
    input_axes = ("time", "lead")
    default_model = "lstm"
    models = ("lstm", "gru", "rnn")
    time_estimate = ("3-15 min on 2 CPU cores (2,800 training records, 30 epochs at most, early stopping after ~20; 9 s an epoch "
                     "on an idle machine, up to 45 s on a busy one; docs/benchmarks.md); --quick: under a minute")  # fmt: skip
    config_class = AfRunConfig
    predict_help = ("WFDB records (A00001, path/to/A00001 or .hea; .mat or .dat signal): one row per record: item_id (as given), "
                    "record_id, class, p_N, p_A, p_O, p_~, seconds; the first lead is read; another sampling rate is resampled "
                    "to the model's (polyphase), below 100 Hz refused")  # fmt: skip
    options = (
        TaskOption("--data", "data.dataset", "cinc2017_af (default: the 4,000-record subset under the data root), cinc2017 (the full "
                   "training set, fetched from PhysioNet), or a folder of WFDB records with REFERENCE.csv.", short="-d"),
        TaskOption("--protocol", "data.protocol", "split: fixed stratified 70/15/15 by record (default); cv: stratified k-fold, "
                   "test = --fold."),
        TaskOption("--fold", "data.fold", "With --protocol cv: which fold is the test set (0-based).", kind="int"),
        TaskOption("--max-records", "data.max_records", "Only the first N records by name (smoke runs).", kind="int"),
    )  # fmt: skip
    examples = (
        "medrnn train af_rhythm --out runs/af                      # CRNN, 4,000 records, stratified 70/15/15",
        "medrnn train af --protocol cv --fold 2 --out runs/af-f2   # fold 2 of the benchmark's 5-fold CV",
        "medrnn train cinc2017 --data cinc2017 --out runs/af-full  # all 8,528 records (fetched from PhysioNet)",
    )

    def quick_config(self) -> AfRunConfig:
        return AfRunConfig.model_validate({"data": {"max_records": 160},
                                           "model": {"hidden_size": 16, "frontend_channels": 16, "head_hidden": 16},
                                           "train": {"max_epochs": 1, "progress": False}, "bootstrap": 20})  # fmt: skip

    def missing_data(self, config: AfRunConfig) -> dict[str, list[str]]:
        dataset = config.data.dataset
        if dataset in DATASETS:
            missing = missing_under_root(dataset)
            return {dataset: missing} if missing else {}
        if not Path(dataset).expanduser().is_dir() and not paths.dataset_dir(dataset).is_dir():
            raise ConfigError(f"--data {dataset!r}: no such folder here nor under the data root ({paths.dataset_dir(dataset)}); "
                              "use --data cinc2017 to fetch PhysioNet's full training set, or name a folder of WFDB records "
                              "with a REFERENCE.csv")  # fmt: skip
        return {}

    # ---- training ----------------------------------------------------------------------------------------------
    def load(self, config: AfRunConfig, progress: bool = False) -> TaskData:
        records, errors, facts = load_records(config.data, progress=progress)
        info = {**facts, "records_used": len(records), "read_errors": errors, "classes": records.class_counts(),
                "seconds": {"min": float(records.seconds.min()), "median": float(np.median(records.seconds)),
                            "max": float(records.seconds.max())}}  # fmt: skip
        return TaskData(records, records.ids.astype(str), records.ids.astype(str).tolist(), info)

    def split(self, data: TaskData, config: AfRunConfig) -> Split:
        d, y = config.data, data.samples.y
        try:
            if d.protocol == "cv":
                split = stratified_fold(y, d.folds, d.fold, seed=d.split_seed, val_fraction=d.val_fraction)
                name = f"stratified {d.folds}-fold CV by record, test = fold {d.fold} (seed {d.split_seed})"
            else:
                split = stratified_split(y, d.split_sizes, seed=d.split_seed)
                sizes = "/".join(f"{round(100 * s)}" for s in d.split_sizes)
                name = f"fixed stratified {sizes} train/validation/test split by record (seed {d.split_seed})"
        except ValueError as err:  # a class too rare for the split sizes (scikit-learn's message says which)
            raise ConfigError(f"cannot stratify {len(y)} records with {d.protocol!r}: {err}; use more records") from err
        data.info["split"] = {"protocol": name}
        data.info["counts"] = {part: self.subset(data, index).class_counts() for part, index in split._asdict().items()}
        return split

    def subset(self, data: TaskData, index: np.ndarray) -> AfRecords:
        return data.samples.subset(as_index(index))

    def join(self, parts: list[AfRecords]) -> AfRecords:
        return AfRecords.concat(parts)

    def fit_pipeline(self, data: TaskData, split: Split, config: AfRunConfig) -> AfPipeline:
        return AfPipeline.fit(config.data)

    def pipeline_from_state(self, state: dict[str, Any]) -> AfPipeline:
        return AfPipeline.from_state_dict(state)

    def targets(self, data: TaskData, index: np.ndarray, pipeline: AfPipeline) -> np.ndarray:
        return data.samples.y[as_index(index)]

    def build_model(self, data: TaskData, split: Split, pipeline: AfPipeline, config: AfRunConfig) -> tuple[nn.Module, dict[str, Any]]:
        return build_model(config.model.name, config.model, input_size=1, num_classes=len(pipeline.label_names)), {}

    def loaders(self, data: TaskData, split: Split, pipeline: AfPipeline, config: AfRunConfig) -> tuple[DataLoader, DataLoader, list]:
        t = config.train
        train, val = self.subset(data, split.train), self.subset(data, split.val)
        # records run 9-61 s: batches of similar length spend little time on padding (never packed sequences)
        sampler = LengthBucketSampler(train.lengths, t.batch_size, shuffle=True, seed=t.seed)
        return (DataLoader(AfDataset(train), batch_sampler=sampler, collate_fn=collate_grid, num_workers=t.num_workers),
                DataLoader(AfDataset(val), batch_sampler=LengthBucketSampler(val.lengths, VAL_BATCH_SIZE, shuffle=False),
                           collate_fn=collate_grid, num_workers=t.num_workers),
                [_EpochCallback(sampler)])  # fmt: skip

    def class_weights(self, data: TaskData, split: Split, pipeline: AfPipeline, config: AfRunConfig) -> torch.Tensor:
        y = data.samples.y[as_index(split.train)]
        return torch.as_tensor(class_weights(y, len(pipeline.label_names), config.train.class_weighting), dtype=torch.float32)

    def batch_augment(self, config: AfRunConfig) -> Any:
        return augment_batch if config.train.augment else None  # gain, noise and a few samples of jitter, padding kept at zero

    def predict(self, model: nn.Module, pipeline: AfPipeline, samples: AfRecords) -> Scores:
        return Scores(predict_proba(model, samples, len(pipeline.label_names), VAL_BATCH_SIZE))

    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: AfPipeline, config: AfRunConfig,
                 samples: Any) -> Any:  # fmt: skip
        report = evaluate(y, scores.values, list(pipeline.label_names), units=units, unit="records", n_boot=config.bootstrap,
                          seed=config.train.seed)  # fmt: skip
        point, ci = challenge_f1(y, scores.values.argmax(axis=1), list(pipeline.label_names), config.bootstrap, config.train.seed)
        return dataclasses.replace(report, overall={**report.overall, "f1_naof": point}, ci={**report.ci, "overall.f1_naof": ci},
                                   headline="f1_naof")  # fmt: skip

    def explain_inputs(self, pipeline: Any, samples: Any, index: list[int]) -> list[Any]:
        return explaining.explain_inputs(pipeline, samples, index)

    # ---- inference ---------------------------------------------------------------------------------------------
    def read_input(self, source: str, pipeline: AfPipeline, options: dict[str, Any]) -> InputItem:
        cfg = pipeline.config
        record = read_record(resolve_record(source, cfg.dataset))
        signal, lead = lead_signal(record)
        where = record.source or source
        notes: dict[str, Any] = {}
        if len(record.lead_names) > 1:
            notes["lead"] = f"first lead {lead!r} of {list(record.lead_names)} read"
        if abs(record.sfreq_hz - cfg.sfreq_hz) > 1e-6 * cfg.sfreq_hz:
            signal = to_rate(signal, record.sfreq_hz, cfg.sfreq_hz, where)
            notes["resampled"] = f"{record.sfreq_hz:g} Hz -> {cfg.sfreq_hz:g} Hz"
        x = model_input(signal, cfg, where)
        seconds = len(record.signal[0]) / record.sfreq_hz
        records = AfRecords([x], np.full(1, -1, dtype=np.int64), np.array([record.record_id]), np.array([seconds]))
        return InputItem(source, records, notes=notes)

    def decode(self, item: InputItem, scores: Scores, pipeline: AfPipeline) -> list[dict[str, Any]]:
        from medrnn.uncertainty.rows import conformal_fields  # conformal columns, only when --coverage was asked

        records: AfRecords = item.samples
        return [{"item_id": item.item_id, "record_id": str(rid), "class": pipeline.label_names[int(np.argmax(p))],
                 **{f"p_{c}": round(float(v), 5) for c, v in zip(pipeline.label_names, p)}, "seconds": round(float(s), 3),
                 **conformal_fields(scores, i, pipeline)}
                for i, (rid, p, s) in enumerate(zip(records.ids, scores.values, records.seconds))]  # fmt: skip

    def columns(self, pipeline: AfPipeline) -> list[str]:
        from medrnn.uncertainty.rows import conformal_columns  # conformal columns, only when --coverage was asked

        return ["item_id", "record_id", "class", *[f"p_{c}" for c in pipeline.label_names], "seconds", *conformal_columns(pipeline)]

    def report_sections(self, run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
        return af_sections(run_dir, metrics)


def challenge_f1(y: np.ndarray, y_pred: np.ndarray, names: list[str], n_boot: int = 0, seed: int = 0) -> tuple[float, list[float] | None]:
    """The CinC 2017 score (Clifford et al. 2017): mean over N, A, O of F1 = 2 n_cc / (n_c. + n_.c), and its percentile
    bootstrap CI over records (one record per sample); ~ counts in the denominators but has no F1 of its own here."""
    classes = [names.index(c) for c in CHALLENGE_CLASSES]
    k = len(names)
    y, y_pred = np.asarray(y, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)

    def score(cm: np.ndarray) -> float:
        f1 = [2 * cm[c, c] / (cm[c].sum() + cm[:, c].sum()) if cm[c].sum() + cm[:, c].sum() else np.nan for c in classes]
        return float(np.nanmean(f1)) if not np.isnan(f1).all() else float("nan")

    cells = y * k + y_pred
    point = score(np.bincount(cells, minlength=k * k).reshape(k, k))
    if n_boot <= 0 or len(y) == 0:
        return point, None
    rng = np.random.default_rng(seed)
    draws = [score(np.bincount(cells[rng.integers(0, len(y), len(y))], minlength=k * k).reshape(k, k)) for _ in range(n_boot)]
    return point, percentile_interval(draws, 0.95)


def resolve_record(record: str, dataset: str) -> Path:
    """A record path (with or without .hea), or a bare record name under the dataset's record folder."""
    from medrnn.tasks.af_rhythm.data import record_folder

    path = Path(record)
    if path.suffix in (".hea", ".mat", ".dat"):
        path = path.with_suffix("")
    if path.with_suffix(".hea").exists() or path.parent != Path("."):
        return path
    candidate = record_folder(dataset) / record
    if not candidate.with_suffix(".hea").exists():
        raise InvalidRecordError(f"{record}: no WFDB header {path.with_suffix('.hea')} here nor {candidate.with_suffix('.hea')} "
                                 "under the data root")  # fmt: skip
    return candidate


class _EpochCallback(L.Callback):
    """Tells the bucket sampler which epoch it is (a new order each epoch, seeded)."""

    def __init__(self, sampler: LengthBucketSampler) -> None:
        self.sampler = sampler

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.sampler.set_epoch(trainer.current_epoch)


__all__ = ["CLASSES", "AfRhythmTask", "challenge_f1", "resolve_record"]
