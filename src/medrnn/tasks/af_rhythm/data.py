"""CinC 2017 records: the label file, where the records lie (the data-root subset or PhysioNet's training2017/ folder),
reading one record through `read_wfdb` and turning it into model input."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from medrnn import paths
from medrnn.data.batch import Batch, collate
from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.io import read_wfdb
from medrnn.records import SignalRecord
from medrnn.tasks.af_rhythm.config import AfDataConfig
from medrnn.transforms import bandpass

CLASSES = ("N", "A", "O", "~")  # normal, AF, other rhythm, too noisy (the challenge's v3 labels)
CLASS_NAMES = {"N": "N (normal)", "A": "A (AF)", "O": "O (other rhythm)", "~": "~ (noisy)"}
REFERENCE_FILES = ("REFERENCE-v3.csv", "REFERENCE.csv")  # v3 (final) first: training2017.zip holds an older REFERENCE.csv
MIN_RESAMPLE_HZ = 100.0  # below this the QRS complex is not resolved: refused rather than resampled
PAD_MULTIPLE = 512  # batches padded to a multiple of 512 steps (3.4 s at 150 Hz): few distinct shapes
_MAX_REFERENCE_BYTES = 1 << 20  # 8,528 rows are 100 kB


@dataclass
class AfRecords:
    """Records as model input: x[i] (time, 1) float32 after filtering, downsampling and scaling; y (n,) int64 class
    index (-1 where unknown); ids (n,) record names; seconds (n,) duration of the raw record."""

    x: list[np.ndarray]
    y: np.ndarray
    ids: np.ndarray
    seconds: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index: np.ndarray) -> AfRecords:
        index = np.asarray(index, dtype=np.int64)
        return AfRecords([self.x[i] for i in index], self.y[index], self.ids[index], self.seconds[index])

    @staticmethod
    def concat(parts: list[AfRecords]) -> AfRecords:
        """The records of every part, in order."""
        return AfRecords([x for p in parts for x in p.x], np.concatenate([p.y for p in parts]),
                         np.concatenate([p.ids for p in parts]), np.concatenate([p.seconds for p in parts]))  # fmt: skip

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(x) for x in self.x], dtype=np.int64)

    def class_counts(self) -> dict[str, int]:
        return {name: int((self.y == k).sum()) for k, name in enumerate(CLASSES)}


class AfDataset(Dataset):
    """Variable-length records as tensors; item i -> (x (time, 1), None, y, i); `collate` pads them."""

    def __init__(self, records: AfRecords) -> None:
        self.x = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in records.x]
        self.y = torch.from_numpy(np.asarray(records.y, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, None, torch.Tensor, int]:
        return self.x[i], None, self.y[i], i


def collate_grid(items: list[tuple[torch.Tensor, None, torch.Tensor, int]], multiple: int = PAD_MULTIPLE) -> Batch:
    """`collate`, then the time axis padded up to a multiple of `multiple` steps (masks and lengths keep it exact).

    oneDNN builds a new LSTM kernel for every sequence length it meets: with records of every length that is a build per
    batch; on a grid of lengths it is a few builds per run (x3 faster training on 2 cores).
    """
    batch = collate(items)
    pad = -batch.x.shape[1] % multiple
    if not pad:
        return batch
    return batch._replace(x=F.pad(batch.x, (0, 0, 0, pad)), mask=F.pad(batch.mask, (0, pad)))


def record_folder(dataset: str) -> Path:
    """Folder of the .hea/.mat records: a path, or a dataset under the data root; PhysioNet's zip unpacks as training2017/."""
    folder = Path(dataset).expanduser()
    if not folder.is_dir():
        folder = paths.dataset_dir(dataset)
    return folder / "training2017" if (folder / "training2017").is_dir() else folder


def reference_path(dataset: str) -> Path:
    """The label file: REFERENCE-v3.csv or REFERENCE.csv beside the records or one folder up (PhysioNet's layout)."""
    records = record_folder(dataset)
    for folder in (records.parent, records) if records.name == "training2017" else (records,):
        for name in REFERENCE_FILES:
            if (folder / name).is_file():
                return folder / name
    raise InvalidRecordError(f"{records}: no label file ({' or '.join(REFERENCE_FILES)}) with 'record,label' rows; "
                             "fetch the full training set with `medrnn data fetch cinc2017`")  # fmt: skip


def read_reference(path: Path) -> dict[str, int]:
    """{record: class index} from 'A00001,N' rows; a malformed row or an unknown label raises, naming the line."""
    try:
        if path.stat().st_size > _MAX_REFERENCE_BYTES:
            raise InvalidRecordError(f"{path}: {path.stat().st_size:,} bytes, expected a label file of at most {_MAX_REFERENCE_BYTES:,}")
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidRecordError(f"{path}: cannot read the label file ({err})") from err
    labels: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not parts[0]:
            raise InvalidRecordError(f"{path}: line {number} {line[:60]!r}: expected 'record,label', e.g. 'A00001,N'")
        if parts[1] not in CLASSES:
            raise InvalidRecordError(f"{path}: line {number}: label {parts[1]!r} of record {parts[0]}; known: {', '.join(CLASSES)}")
        labels[parts[0]] = CLASSES.index(parts[1])
    if not labels:
        raise InvalidRecordError(f"{path}: no 'record,label' rows")
    return labels


def read_record(path: str | Path, expected_sfreq_hz: float | None = None) -> SignalRecord:
    """One single-lead record (the first lead of a multi-lead one is taken by `lead_signal`); errors name file and field."""
    return read_wfdb(path, expected_sfreq_hz=expected_sfreq_hz, annotation_extension=None)


def to_rate(signal: np.ndarray, sfreq_hz: float, target_hz: float, source: str) -> np.ndarray:
    """`signal` (n,) at `target_hz`: unchanged, or polyphase-resampled (scipy.signal.resample_poly); too low a rate raises."""
    if math.isclose(sfreq_hz, target_hz, rel_tol=1e-6):
        return signal
    if sfreq_hz < MIN_RESAMPLE_HZ:
        raise InvalidRecordError(f"{source}: sampling rate {sfreq_hz:g} Hz, the model reads {target_hz:g} Hz; below "
                                 f"{MIN_RESAMPLE_HZ:g} Hz the QRS complex is not resolved, so it is not resampled")  # fmt: skip
    from scipy.signal import resample_poly

    ratio = Fraction(target_hz / sfreq_hz).limit_denominator(1000)
    return resample_poly(signal.astype(np.float64), ratio.numerator, ratio.denominator).astype(np.float32)


def model_input(signal: np.ndarray, config: AfDataConfig, source: str) -> np.ndarray:
    """(n,) signal at config.sfreq_hz -> (time, 1) float32: band-pass, keep every k-th sample, median/SD scaling."""
    if len(signal) < config.min_seconds * config.sfreq_hz:
        raise InvalidRecordError(f"{source}: {len(signal) / config.sfreq_hz:.2f} s of signal, at least {config.min_seconds:g} s needed")
    x = signal.astype(np.float64)
    if config.filter:
        x = bandpass(x, config.sfreq_hz, *config.bandpass_hz).astype(np.float64)
    x = x[:: config.downsample]
    # per-record amplitude scale: gains and electrode contact differ between recordings
    x = (x - np.median(x)) / max(float(np.std(x)), 1e-6)
    return np.clip(x, -20, 20).astype(np.float32)[:, None]


def lead_signal(record: SignalRecord) -> tuple[np.ndarray, str]:
    """The record's first lead (CinC 2017 records have one) and its name."""
    return record.signal[0], record.lead_names[0] if record.lead_names else "lead 0"


def load_records(config: AfDataConfig, progress: bool = False) -> tuple[AfRecords, dict[str, str], dict[str, str]]:
    """Read the labelled records (sorted by name, the first `max_records`): (records, {record: read error}, facts).

    A record that cannot be read is reported by name and left out; a rate other than config.sfreq_hz is such an error.
    """
    folder, reference = record_folder(config.dataset), reference_path(config.dataset)
    labels = read_reference(reference)
    names = sorted(labels)
    if config.max_records is not None:
        names = names[: config.max_records]
    xs, ys, ids, seconds, errors = [], [], [], [], {}
    for name in tqdm(names, desc="reading records", disable=not progress, leave=False):
        try:
            record = read_record(folder / name, expected_sfreq_hz=config.sfreq_hz)
            signal, _ = lead_signal(record)
            xs.append(model_input(signal, config, record.source or name))
        except InvalidRecordError as err:
            errors[name] = str(err)
            continue
        ys.append(labels[name])
        ids.append(name)
        seconds.append(len(signal) / record.sfreq_hz)
    if not xs:
        raise ConfigError(f"{folder}: none of {len(names)} records could be read (e.g. {next(iter(errors.items()), '')})")
    records = AfRecords(xs, np.array(ys, dtype=np.int64), np.array(ids), np.array(seconds, dtype=np.float64))
    return records, errors, {"folder": str(folder), "reference": str(reference)}
