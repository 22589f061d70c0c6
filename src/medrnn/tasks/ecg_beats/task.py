"""ECG beat classification (MIT-BIH, inter-patient protocol): every beat of a record -> one of the AAMI classes
N, S, V, F, Q. Train on DS1 (whole records held out for validation), evaluate once on DS2 (de Chazal 2004)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn import paths
from medrnn.datasets import DATASETS, missing_under_root, require_dataset
from medrnn.data.batch import BeatDataset
from medrnn.data.loaders import class_weights, make_loader
from medrnn.data.splits import Split
from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.io import read_wfdb
from medrnn.metrics import evaluate
from medrnn.models import build_model, model_arguments
from medrnn.tasks.serving import ServedInput
from medrnn.tasks.base import InputItem, Scores, Section, Task, TaskData, register_task
from medrnn.tasks.ecg_beats import explain as explaining
from medrnn.tasks.ecg_beats.beats import AAMI_CLASSES, BeatSet, extract_beats
from medrnn.tasks.ecg_beats.config import BeatRunConfig
from medrnn.tasks.ecg_beats.sites import SITE_PARTITIONS
from medrnn.tasks.ecg_beats.data import load_beats, split_validation_records
from medrnn.tasks.ecg_beats.decision import tune_weights
from medrnn.tasks.ecg_beats.pipeline import BeatPipeline
from medrnn.tasks.ecg_beats.predict import predict_proba
from medrnn.tasks.ecg_beats.report import beat_sections, write_strip
from medrnn.train.augment import augment_batch
from medrnn.transforms.peaks import detect_r_peaks


@register_task
class EcgBeatsTask(Task):
    """ECG beats of MIT-BIH records -> AAMI classes, trained on DS1 and evaluated once on DS2."""

    name = "ecg_beats"
    aliases = ("mitdb",)
    title = "ECG beats -> AAMI classes N/S/V/F/Q (MIT-BIH inter-patient: DS1 -> DS2)"
    data = "mitdb (WFDB records with .atr beat annotations)"
    readers = ("read_wfdb",)
    split_unit = "record (de Chazal's DS1/DS2; validation records held out of DS1)"
    output_kinds = ("multiclass",)
    input_axes = ("time", "lead")
    default_model = "lstm"
    models = ("lstm", "gru", "rnn", "beat_rhythm")
    time_estimate = "about 5 min on 2 CPU cores (docs/benchmarks.md); --quick: under a minute"
    config_class = BeatRunConfig
    site_partitions = SITE_PARTITIONS  # `medrnn federate --sites` (sites.py)
    predict_help = ("WFDB records (data/100, 100.hea or names under the data root): R peaks detected (XQRS), every beat "
                    "classified; one row per beat: item_id (the record exactly as given: in/232 and 232 stay apart), sample, "
                    "time_s, class, p_N ... p_Q")  # fmt: skip

    served_input = ServedInput(uploads=(".hea", ".dat", ".atr"))  # a WFDB record: header + signal (+ annotations)
    examples = ("medrnn train mitdb --out runs/mitdb", "medrnn train mitdb --model gru --seed 1 --out runs/mitdb-gru",
                "medrnn train mitdb -c my.yaml --accelerator gpu --devices 2 --strategy ddp")  # fmt: skip

    def quick_config(self) -> BeatRunConfig:
        return BeatRunConfig.model_validate({"data": {"train_records": ["101", "106", "108", "109", "112", "114"],
                                                      "test_records": ["100", "103"], "val_records": 2},
                                             "train": {"max_epochs": 1, "progress": False}, "bootstrap": 20})  # fmt: skip

    def missing_data(self, config: BeatRunConfig) -> dict[str, list[str]]:
        d = config.data
        needed = [f"{r}.{ext}" for r in (*d.train_records, *d.test_records) for ext in ("hea", "dat", "atr")]
        if d.dataset not in DATASETS:
            folder = paths.dataset_dir(d.dataset)
            if not folder.is_dir():
                raise ConfigError(f"data.dataset {d.dataset!r}: no folder {folder} under the data root and not a catalogue "
                                  f"dataset; known: {', '.join(DATASETS)}")  # fmt: skip
            return {}
        missing = missing_under_root(d.dataset, needed)
        return {d.dataset: missing} if missing else {}

    def load(self, config: BeatRunConfig, progress: bool = False) -> TaskData:
        d = config.data
        folder = paths.dataset_dir(d.dataset)
        if not any((folder / f"{r}.hea").exists() for r in (*d.train_records, *d.test_records)):
            require_dataset(d.dataset)  # none of the records is there: say where it looked and how to fetch
        train_all, errors = load_beats(d.train_records, d, progress=progress)
        test, test_errors = load_beats(d.test_records, d, progress=progress)
        errors.update(test_errors)
        beats = BeatSet.concat([train_all, test])
        n_train = len(train_all)
        units = beats.record.astype(str)
        info = {"read_errors": errors, "dropped_beats": {"train+val": train_all.dropped, "test": test.dropped},
                "test_records": list(d.test_records)}  # fmt: skip
        ids = [f"{r}:{s}" for r, s in zip(units, beats.sample)]
        return TaskData(_Beats(beats, n_train), units, ids, info)

    def split(self, data: TaskData, config: BeatRunConfig) -> Split:
        beats, n_train = data.samples.beats, data.samples.n_train
        train_ids, val_ids = split_validation_records(beats.subset(np.arange(n_train)), config.data.val_records, config.train.seed)
        first = np.arange(n_train)
        in_val = np.isin(beats.record[:n_train], val_ids)
        split = Split(first[~in_val], first[in_val], np.arange(n_train, len(beats)))
        counts = {k: beats.subset(v).class_counts() for k, v in (("train+val", first), *split._asdict().items())}
        data.info.update({"counts": counts, "train_records": list(train_ids), "validation_records": list(val_ids)})
        return split

    def subset(self, data: TaskData, index: np.ndarray) -> BeatSet:
        return data.samples.beats.subset(np.asarray(index, dtype=np.int64))

    def join(self, parts: list[BeatSet]) -> BeatSet:
        return BeatSet.concat(parts)

    def patient_items(self, predictor: Any, data: TaskData, index: np.ndarray) -> Any:
        from medrnn.tasks.ecg_beats.adaptation import beat_items  # `medrnn fewshot ecg` (docs/fewshot.md)

        return beat_items(self, predictor, data, index)

    def fit_pipeline(self, data: TaskData, split: Split, config: BeatRunConfig) -> BeatPipeline:
        return BeatPipeline.fit(self.subset(data, split.train), config.data, tune_decision=config.decision == "tuned")

    def pipeline_from_state(self, state: dict[str, Any]) -> BeatPipeline:
        return BeatPipeline.from_state_dict(state)

    def targets(self, data: TaskData, index: np.ndarray, pipeline: BeatPipeline) -> np.ndarray:
        return data.samples.beats.y[np.asarray(index, dtype=np.int64)]

    def build_model(self, data: TaskData, split: Split, pipeline: BeatPipeline, config: BeatRunConfig) -> tuple[nn.Module, dict[str, Any]]:
        rhythm = "beat_window" in model_arguments(config.model.name)
        if rhythm != (config.data.context_beats > 0):
            raise ConfigError(f"model {config.model.name!r} with data.context_beats={config.data.context_beats}: the rhythm model "
                              "(beat_rhythm) reads each beat with its neighbours and needs data.context_beats >= 1 (e.g. 8); "
                              "the single-beat models (lstm, gru, rnn) need data.context_beats=0")  # fmt: skip
        sizes = pipeline.model_sizes(data.samples.beats)
        model = build_model(config.model.name, config.model, num_classes=len(pipeline.label_names), **sizes)
        # reseeded after the weights are drawn, as the published MIT-BIH runs were: batches and dropout reproduce them
        L.seed_everything(config.train.seed, workers=True, verbose=False)
        return model, {}

    def loaders(self, data: TaskData, split: Split, pipeline: BeatPipeline, config: BeatRunConfig) -> tuple[DataLoader, DataLoader, list]:
        train, val = self.subset(data, split.train), self.subset(data, split.val)
        t = config.train
        weights = class_weights(train.y, len(pipeline.label_names), "balanced")[train.y] if t.sampler == "balanced" else None
        return (make_loader(BeatDataset(pipeline.inputs(train), pipeline.static(train), train.y), t, True, weights),
                make_loader(BeatDataset(pipeline.inputs(val), pipeline.static(val), val.y), t, False), [])  # fmt: skip

    def class_weights(self, data: TaskData, split: Split, pipeline: BeatPipeline, config: BeatRunConfig) -> torch.Tensor:
        y = data.samples.beats.y[split.train]
        return torch.as_tensor(class_weights(y, len(pipeline.label_names), config.train.class_weighting), dtype=torch.float32)

    def batch_augment(self, config: BeatRunConfig) -> Any:
        if not config.train.augment:
            return None
        if config.data.context_beats > 0:
            raise ConfigError("train.augment=true with data.context_beats > 0: the batch augmentation shifts the time axis, which "
                              "for the rhythm model is the beat axis; set train.augment=false")  # fmt: skip
        return augment_batch  # gain, noise and R-peak jitter on each beat window

    def predict(self, model: nn.Module, pipeline: BeatPipeline, samples: BeatSet) -> Scores:
        probs, attention = predict_proba(model, pipeline.inputs(samples), pipeline.static(samples))
        return Scores(probs, {"attention": attention} if attention is not None else {})

    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: BeatPipeline, config: BeatRunConfig,
                 samples: Any) -> Any:  # fmt: skip
        # jκ: the inter-patient literature's figure; classes by the (validation-tuned) decision rule
        return evaluate(y, scores.values, list(pipeline.label_names), units=units, unit="records", headline="jkappa",
                        n_boot=config.bootstrap, seed=config.train.seed, y_pred=pipeline.predicted(scores.values))  # fmt: skip

    def tune(self, pipeline: BeatPipeline, scores: Scores, y: np.ndarray, samples: Any = None) -> dict[str, Any]:
        """With `decision: tuned`, per-class weights maximising jκ on the validation records (never on test)."""
        if not pipeline.tune_decision:
            return {}
        weights, tuned, plain = tune_weights(y, scores.values, list(pipeline.label_names))
        pipeline.decision_weights = weights
        return {"decision_weights": dict(zip(pipeline.label_names, weights)), "decision_tuned_on": "validation records",
                "val_jkappa_tuned": tuned, "val_jkappa_argmax": plain}  # fmt: skip

    def write_outputs(self, run_dir: Path, data: TaskData, split: Split, pipeline: BeatPipeline, scores: Scores,
                      model: nn.Module, config: BeatRunConfig) -> dict[str, Any]:  # fmt: skip
        test = self.subset(data, split.test)
        write_strip(run_dir / "strip.npz", test, scores.values, config.data, pipeline.decision_weights)
        return {}

    def explain_inputs(self, pipeline: Any, samples: Any, index: list[int]) -> list[Any]:
        return explaining.explain_inputs(pipeline, samples, index)

    def read_input(self, source: str, pipeline: BeatPipeline, options: dict[str, Any]) -> InputItem:
        cfg = pipeline.config
        record = read_wfdb(resolve_record(source, cfg.dataset), annotation_extension=None, leads=[cfg.lead])
        peaks = options.get("peaks")
        if peaks is None:
            peaks = detect_r_peaks(record.lead(cfg.lead), record.sfreq_hz, source=record.source or record.record_id)
        beats = extract_beats(record, cfg, peaks=peaks)
        return InputItem(source, beats, notes={"beats_left_out": dict(beats.dropped)} if beats.dropped else {})

    def decode(self, item: InputItem, scores: Scores, pipeline: BeatPipeline) -> list[dict[str, Any]]:
        from medrnn.uncertainty.rows import conformal_fields  # conformal columns, only when --coverage was asked

        beats: BeatSet = item.samples
        raw_hz = pipeline.config.sfreq_hz
        labels = pipeline.predicted(scores.values)
        # the input as the user gave it, not the record's base name: in/232 and out/232 are two records
        return [{"item_id": item.item_id, "sample": int(s), "time_s": round(float(s) / raw_hz, 4), "class": pipeline.label_names[k],
                 **{f"p_{c}": round(float(p), 5) for c, p in zip(pipeline.label_names, prob)}, **conformal_fields(scores, i, pipeline)}
                for i, (s, k, prob) in enumerate(zip(beats.sample, labels, scores.values))]  # fmt: skip

    def columns(self, pipeline: BeatPipeline) -> list[str]:
        from medrnn.uncertainty.rows import conformal_columns  # conformal columns, only when --coverage was asked

        return ["item_id", "sample", "time_s", "class", *[f"p_{c}" for c in pipeline.label_names], *conformal_columns(pipeline)]

    def report_sections(self, run_dir: Path, metrics: dict[str, Any]) -> list[Section]:
        return beat_sections(run_dir, metrics)


class _Beats:
    """All beats of a run: DS1 (train + validation records) first, then DS2 (test) from position `n_train` on."""

    def __init__(self, beats: BeatSet, n_train: int) -> None:
        self.beats, self.n_train = beats, n_train


def resolve_record(record: str, dataset: str) -> Path:
    """A record path (with or without .hea), or a bare record name under the data root's dataset folder."""
    path = Path(record)
    if path.suffix == ".hea":
        path = path.with_suffix("")
    if path.with_suffix(".hea").exists() or path.parent != Path("."):
        return path
    candidate = paths.dataset_dir(dataset) / record
    if not candidate.with_suffix(".hea").exists():
        raise InvalidRecordError(f"{record}: no WFDB header {path.with_suffix('.hea')} here nor {candidate.with_suffix('.hea')} "
                                 "under the data root")  # fmt: skip
    return candidate


__all__ = ["AAMI_CLASSES", "EcgBeatsTask", "resolve_record"]
