"""MIT-BIH inter-patient protocol (de Chazal 2004): DS1/DS2 record lists, cached beat loading, validation records."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from medrnn import paths
from medrnn.atomic import atomic_path
from medrnn.datasets import mitdb_patient_id
from medrnn.errors import ConfigError, InvalidRecordError
from medrnn.io import read_wfdb
from medrnn.tasks.ecg_beats.beats import AAMI_CLASSES, BeatSet, extract_beats
from medrnn.tasks.ecg_beats.config import MITDB_DS1, MITDB_DS2, BeatDataConfig

DS1, DS2 = MITDB_DS1, MITDB_DS2
PACED = ("102", "104", "107", "217")  # excluded: AAMI EC57 recommends leaving paced records out
_CACHE_VERSION = 1  # bump when extract_beats changes what it writes


def _cache_key(record_path: Path, config: BeatDataConfig) -> str:
    stats = [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in sorted(record_path.parent.glob(record_path.name + ".*"))]
    # the neighbourhood (context_*) is built from the cached beats, so it does not key the cache
    cut = config.model_dump(mode="json", exclude={"val_records", "train_records", "test_records", "context_beats", "context_decimate"})
    payload = json.dumps([_CACHE_VERSION, cut, stats])
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def _load_one(record_path: Path, config: BeatDataConfig, cache: bool) -> BeatSet:
    return _cut_one(record_path, config, cache).with_context(config.context_beats, config.context_decimate)


def _cut_one(record_path: Path, config: BeatDataConfig, cache: bool) -> BeatSet:
    cache_file = paths.cache_dir() / "beats" / f"{record_path.name}-{_cache_key(record_path, config)}.npz"
    if cache and cache_file.exists():
        with np.load(cache_file, allow_pickle=False) as z:
            dropped = json.loads(str(z["dropped"]))
            return BeatSet(z["x"], z["rr"], z["y"], z["sample"], z["record"], float(z["sfreq_hz"]), dropped)
    patient = mitdb_patient_id(record_path.name) if config.dataset == "mitdb" else None
    record = read_wfdb(record_path, expected_sfreq_hz=config.sfreq_hz, leads=[config.lead], patient_id=patient)
    beats = extract_beats(record, config)
    if cache:
        with atomic_path(cache_file) as tmp:
            np.savez(tmp, x=beats.x, rr=beats.rr, y=beats.y, sample=beats.sample, record=beats.record.astype(str),
                     sfreq_hz=beats.sfreq_hz, dropped=json.dumps(beats.dropped))  # fmt: skip
    return beats


def load_beats(
    record_ids: tuple[str, ...] | list[str],
    config: BeatDataConfig,
    data_dir: Path | None = None,
    cache: bool = True,
    progress: bool = False,
) -> tuple[BeatSet, dict[str, str]]:
    """Read records and cut their beats, caching arrays per record under the cache dir.

    Returns (beats of the good records, {record_id: error}) so a batch job reports bad records and
    carries on with the rest.
    """
    data_dir = Path(data_dir) if data_dir else paths.dataset_dir(config.dataset)
    sets, errors = [], {}
    for rid in tqdm(record_ids, desc="reading records", disable=not progress, leave=False):
        try:
            sets.append(_load_one(data_dir / rid, config, cache))
        except InvalidRecordError as err:
            errors[rid] = str(err)
    if not sets:
        raise InvalidRecordError(f"{data_dir}: none of {len(record_ids)} records could be read: {errors}")
    return BeatSet.concat(sets), errors


def split_validation_records(beats: BeatSet, num_val: int, seed: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Hold out `num_val` whole records of a training set for validation, seeded.

    Prefers a draw whose validation records contain S and V beats while the training records keep at
    least 70 % of every class, so early stopping sees the classes it is judged on; with few records
    it takes the draw that comes closest.
    """
    records = np.unique(beats.record)
    if not 0 < num_val < len(records):
        raise ConfigError(f"val_records={num_val}: must be between 1 and {len(records) - 1} for {len(records)} records")
    per_record = {r: np.bincount(beats.y[beats.record == r], minlength=len(AAMI_CLASSES)) for r in records}
    total = sum(per_record.values())
    rng = np.random.default_rng(seed)
    s, v = AAMI_CLASSES.index("S"), AAMI_CLASSES.index("V")
    best, best_score = None, -1
    for _ in range(1000):
        val = tuple(sorted(rng.choice(records, size=num_val, replace=False).tolist()))
        val_counts = sum(per_record[r] for r in val)
        score = int(val_counts[s] > 0) + int(val_counts[v] > 0) + int(np.all(total - val_counts >= 0.7 * total))
        if score > best_score:
            best, best_score = val, score
        if score == 3:
            break
    train = tuple(r for r in records.tolist() if r not in best)
    return train, best
