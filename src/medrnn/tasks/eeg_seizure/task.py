"""EEG seizure detection on the Bonn database (Andrzejak 2001): each 23.6 s single-channel segment is cut into
windows, every window classified (A vs E, ABCD vs E, or the five sets), and the windows of a segment averaged into
one decision for the segment.

Split unit: the segment. The source publishes no patient identity (several segments of sets C, D, E come from one
patient, which ones is unknown), so a patient-wise split is impossible; splitting by segment keeps every window of
a segment on one side but may put two segments of one patient on both sides, which flatters every figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn.data.batch import BeatDataset
from medrnn.data.loaders import class_weights, make_loader
from medrnn.data.splits import Split
from medrnn.errors import InvalidRecordError
from medrnn.io.bonn import read_bonn
from medrnn.io.edf import read_edf
from medrnn.metrics import evaluate
from medrnn.models import build_model
from medrnn.tasks.serving import ServedInput
from medrnn.tasks.base import InputItem, Scores, Task, TaskData, TaskOption, register_task
from medrnn.tasks.eeg_seizure import explain as explaining
from medrnn.tasks.eeg_seizure.config import EegRunConfig
from medrnn.tasks.eeg_seizure.data import EegWindows, cut_windows, load_windows, resample_for_model, segment_scores, split_by_segment
from medrnn.tasks.eeg_seizure.pipeline import EegPipeline
from medrnn.tasks.eeg_seizure.predict import AugmentedWindows, predict_proba
from medrnn.train.augment import augment_batch
from medrnn.transforms.signal_augment import SignalAugmenter, parse_augments


@register_task
class EegSeizureTask(Task):
    """Bonn EEG segments -> windows -> seizure / non-seizure (or sets A-E), with a segment-level decision."""

    name = "eeg_seizure"
    aliases = ("bonn",)
    title = "EEG seizure detection (Bonn sets A-E: A vs E, ABCD vs E, five sets), windows -> segment decision"
    data = "bonn_eeg (Andrzejak 2001: sets Z, O, N, F, S, 100 single-channel 23.6 s segments each, 173.61 Hz)"
    readers = ("read_bonn", "read_edf")
    split_unit = "segment (the source publishes no patient identity: a patient-wise split is impossible)"
    output_kinds = ("multiclass",)
    input_axes = ("time", "lead")
    default_model = "lstm"
    models = ("lstm", "gru", "rnn")
    time_estimate = "A vs E, 4 s windows: about 1-2 min on 2 CPU cores; --quick: seconds"
    config_class = EegRunConfig
    predict_help = ("Bonn segment files (.txt, one integer per line) or EDF files (every channel, or --channel); a channel at "
                    "another rate is band-passed 0.53-40 Hz and resampled to the model's rate. Rows: one per window "
                    "(level=window, start_s, end_s) and one per channel (level=segment, the mean of its windows): item_id, "
                    "channel, level, start_s, end_s, class, p_<class>...")  # fmt: skip
    options = (
        TaskOption("--protocol", "data.protocol", "A_vs_E (default), ABCD_vs_E or five_sets."),
        TaskOption("--window-s", "data.window_s", "Window length in seconds (default 4).", kind="float"),
        TaskOption("--stride-s", "data.stride_s", "Step between windows in seconds (default 2).", kind="float"),
        TaskOption("--split", "data.split", "fixed: stratified 60/20/20 by segment (default); cv: k folds by segment, test = --fold."),
        TaskOption("--fold", "data.fold", "With --split cv: which fold is the test set (0-based).", kind="int"),
        TaskOption("--augment", "augment", "Training augmentations, comma-separated 'name[:strength[:p]]': scale, wander, "
                   "noise (SNR dB), shift, mixup (alpha); e.g. scale:0.2,noise:20.", kind="list"),
    )  # fmt: skip
    predict_options = (TaskOption("--channel", "channel", "EDF channel label to classify (default: every channel)."),)
    served_input = ServedInput(uploads=(".edf", ".rec", ".txt"))  # EDF recordings or Bonn segment files
    examples = ("medrnn train bonn --out runs/bonn", "medrnn train bonn --protocol five_sets --out runs/bonn-5",
                "medrnn train bonn --split cv --fold 2 --augment scale:0.2,noise:20 --out runs/bonn-cv2",
                "medrnn predict --artifact runs/bonn/model S001.txt recording.edf --channel Fp1")  # fmt: skip

    def quick_config(self) -> EegRunConfig:
        return EegRunConfig.model_validate({"data": {"max_segments_per_set": 15, "stride_s": 4.0},
                                            "train": {"max_epochs": 1, "progress": False}, "bootstrap": 20})  # fmt: skip

    def load(self, config: EegRunConfig, progress: bool = False) -> TaskData:
        windows, errors = load_windows(config.data)
        units = windows.segment.astype(str)
        ids = [f"{s}:{int(t)}" for s, t in zip(units, windows.start)]
        info = {"read_errors": errors, "protocol": config.data.protocol, "segments": int(len(np.unique(units))),
                "windows_per_segment": int(len(units) // max(1, len(np.unique(units)))),
                "patient_identity": "not published by the source: split by segment"}  # fmt: skip
        return TaskData(windows, units, ids, info)

    def split(self, data: TaskData, config: EegRunConfig) -> Split:
        split = split_by_segment(data.samples, config.data, config.train.seed)
        data.info["split_segments"] = {k: int(len(np.unique(data.units[v]))) for k, v in split._asdict().items()}
        return split

    def subset(self, data: TaskData, index: np.ndarray) -> EegWindows:
        return data.samples.subset(index)

    def join(self, parts: list[EegWindows]) -> EegWindows:
        return EegWindows.concat(parts, parts[0].sfreq_hz)

    def fit_pipeline(self, data: TaskData, split: Split, config: EegRunConfig) -> EegPipeline:
        return EegPipeline.fit(config.data)

    def pipeline_from_state(self, state: dict[str, Any]) -> EegPipeline:
        return EegPipeline.from_state_dict(state)

    def targets(self, data: TaskData, index: np.ndarray, pipeline: EegPipeline) -> np.ndarray:
        return data.samples.y[np.asarray(index, dtype=np.int64)]

    def build_model(self, data: TaskData, split: Split, pipeline: EegPipeline, config: EegRunConfig) -> tuple[nn.Module, dict[str, Any]]:
        model = build_model(config.model.name, config.model, input_size=1, num_classes=len(pipeline.label_names))
        return model, {}

    def loaders(self, data: TaskData, split: Split, pipeline: EegPipeline, config: EegRunConfig) -> tuple[DataLoader, DataLoader, list]:
        train, val = self.subset(data, split.train), self.subset(data, split.val)
        augments = parse_augments(config.augment)
        augmenter = SignalAugmenter(augments, pipeline.config.sfreq_hz, config.train.seed) if augments else None
        return (make_loader(AugmentedWindows(train.x, train.y, len(pipeline.label_names), augmenter), config.train, True),
                make_loader(BeatDataset(val.x, None, val.y), config.train, False), [])  # fmt: skip

    def class_weights(self, data: TaskData, split: Split, pipeline: EegPipeline, config: EegRunConfig) -> torch.Tensor:
        y = data.samples.y[split.train]
        return torch.as_tensor(class_weights(y, len(pipeline.label_names), config.train.class_weighting), dtype=torch.float32)

    def batch_augment(self, config: EegRunConfig) -> Any:
        return augment_batch if config.train.augment else None  # the signal worlds' gain, noise and jitter on each window

    def predict(self, model: nn.Module, pipeline: EegPipeline, samples: EegWindows) -> Scores:
        return Scores(predict_proba(model, samples.x))

    def evaluate(self, y: np.ndarray, scores: Scores, units: np.ndarray, pipeline: EegPipeline, config: EegRunConfig,
                 samples: Any) -> Any:  # fmt: skip
        names = list(pipeline.label_names)
        report = evaluate(y, scores.values, names, units=units, unit="segments", headline="accuracy",
                          n_boot=config.bootstrap, seed=config.train.seed)  # fmt: skip
        seg_ids, seg_probs = segment_scores(units, scores.values)
        first = {s: int(y[i]) for i, s in reversed(list(enumerate(np.asarray(units).astype(str))))}
        seg_y = np.array([first[s] for s in seg_ids], dtype=np.int64)
        seg = evaluate(seg_y, seg_probs, names, units=seg_ids, unit="segments", headline="accuracy",
                       n_boot=config.bootstrap, seed=config.train.seed)  # fmt: skip
        report.extras["segment_level"] = seg.to_dict()
        report.extras["notes"] = ["window-level figures above; segment_level: the mean of each segment's window probabilities",
                                  "split by segment: the Bonn source publishes no patient identity"]  # fmt: skip
        return report

    def explain_inputs(self, pipeline: Any, samples: Any, index: list[int]) -> list[Any]:
        return explaining.explain_inputs(pipeline, samples, index)

    def read_input(self, source: str, pipeline: EegPipeline, options: dict[str, Any]) -> InputItem:
        cfg = pipeline.config
        channel = options.get("channel")
        if Path(source).suffix.lower() in (".edf", ".rec"):
            record = read_edf(source, channels=[channel] if channel else None)
        else:
            record = read_bonn(source, expected_samples=None)
        parts, notes = [], {}
        for k, name in enumerate(record.lead_names):
            x, note = resample_for_model(record, k, cfg.sfreq_hz)
            notes.update(note)
            parts.append(cut_windows(x, name, -1, cfg, source))
        windows = EegWindows.concat(parts, cfg.sfreq_hz)
        if len(windows) == 0:
            raise InvalidRecordError(f"{source}: no windows to classify")
        return InputItem(source, windows, notes=notes)

    def decode(self, item: InputItem, scores: Scores, pipeline: EegPipeline) -> list[dict[str, Any]]:
        from medrnn.uncertainty.rows import conformal_fields  # conformal columns, only when --coverage was asked

        w: EegWindows = item.samples
        names = pipeline.label_names
        window_n = round(pipeline.config.window_s * w.sfreq_hz)
        rows = [{"item_id": item.item_id, "channel": str(c), "level": "window", "start_s": round(float(s) / w.sfreq_hz, 3),
                 "end_s": round(float(s + window_n) / w.sfreq_hz, 3), "class": names[int(np.argmax(p))],
                 **{f"p_{n}": round(float(v), 5) for n, v in zip(names, p)}, **conformal_fields(scores, i, pipeline)}
                for i, (c, s, p) in enumerate(zip(w.segment, w.start, scores.values))]  # fmt: skip
        for seg, p in zip(*segment_scores(w.segment, scores.values)):
            starts = w.start[w.segment.astype(str) == seg]
            rows.append({"item_id": item.item_id, "channel": str(seg), "level": "segment", "start_s": 0.0,
                         "end_s": round(float(starts.max() + window_n) / w.sfreq_hz, 3), "class": names[int(np.argmax(p))],
                         **{f"p_{n}": round(float(v), 5) for n, v in zip(names, p)}})  # fmt: skip
        return rows

    def columns(self, pipeline: EegPipeline) -> list[str]:
        from medrnn.uncertainty.rows import conformal_columns  # conformal columns, only when --coverage was asked

        # conformal sets are calibrated per window: segment rows leave them empty
        return ["item_id", "channel", "level", "start_s", "end_s", "class", *[f"p_{c}" for c in pipeline.label_names],
                *conformal_columns(pipeline)]


__all__ = ["EegSeizureTask"]
