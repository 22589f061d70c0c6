"""PhysioNet 2012 stays of a run: reading (every dropped stay counted), 0/1 outcome labels, and the stratified split.

One record is one ICU stay; PhysioNet 2012 gives no patient id across stays, so the split unit is the stay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from medrnn.data.splits import Split
from medrnn.data.stratified import stratified_fold, stratified_split
from medrnn.errors import ConfigError
from medrnn.io.physionet2012 import read_physionet2012
from medrnn.records import IcuStay
from medrnn.tasks.base import TaskData
from medrnn.tasks.icu_mortality.config import IcuDataConfig, IcuRunConfig
from medrnn.transforms.irregular import bin_stay, n_after_window

log = logging.getLogger(__name__)


@dataclass
class IcuStays:
    """Stays with their labels (NaN where unknown, e.g. a user's file) and, optionally, their values on a grid.

    `binned[i]` is `bin_stay(stays[i])` on the grid `grid` = (hours, bin_minutes); it only saves binning twice
    and is used when the pipeline's grid is the same.
    """

    stays: list[IcuStay]
    y: np.ndarray  # (n,) float32, 0/1 or NaN
    binned: list[tuple[np.ndarray, np.ndarray]] | None = None
    grid: tuple[float, int] | None = None

    def __len__(self) -> int:
        return len(self.stays)

    def subset(self, index: np.ndarray) -> IcuStays:
        """The stays at positions `index`, in that order."""
        index = np.asarray(index, dtype=np.int64)
        binned = None if self.binned is None else [self.binned[i] for i in index]
        return IcuStays([self.stays[i] for i in index], self.y[index], binned, self.grid)

    @staticmethod
    def concat(parts: list[IcuStays]) -> IcuStays:
        """The stays of every part, in order (binned values kept only when every part has them on one grid)."""
        same = all(p.binned is not None and p.grid == parts[0].grid for p in parts)
        binned = [b for p in parts for b in p.binned or []] if same else None
        return IcuStays([s for p in parts for s in p.stays], np.concatenate([p.y for p in parts]), binned,
                        parts[0].grid if same else None)  # fmt: skip

    def binned_on(self, hours: float, bin_minutes: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(values (T, V), mask (T, V)) of every stay on the grid, reusing `binned` when it was made on it."""
        if self.binned is not None and self.grid == (float(hours), int(bin_minutes)):
            return self.binned
        return [bin_stay(s, hours=hours, bin_minutes=bin_minutes) for s in self.stays]


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


def load_stays(config: IcuDataConfig, progress: bool = False) -> TaskData:
    """Read the configured sets; exclude (and count) stays without time series when `drop_empty`; label; bin.

    `info` holds what metrics.json["data"] recorded before: the read report, the stays excluded, the
    observations after the window.
    """
    if config.dataset != "physionet2012":
        raise ConfigError(f"data.dataset {config.dataset!r}: the ICU task reads 'physionet2012' (PhysioNet/CinC 2012 layout)")
    stays, read_report = read_physionet2012(sets=tuple(config.sets), progress=progress)
    # the log says how many; which stays (RecordIDs, file names: patient identifiers) only at DEBUG and in metrics.json
    if read_report.failures:
        log.warning("%d stay files not read (files and reasons: metrics.json data.read.failures)", len(read_report.failures))
    for source, reason in read_report.failures.items():
        log.debug("%s not read: %s", source, reason)
    n_read = len(stays)
    excluded = [s.record_id for s in stays if len(s) == 0] if config.drop_empty else []
    if config.drop_empty:
        log.info("%d stays without any time series excluded", len(excluded))
        log.debug("stays without any time series (RecordIDs): %s", excluded)
        stays = [s for s in stays if len(s) > 0]
    n_beyond_max = 0
    if config.max_stays is not None and len(stays) > config.max_stays:
        n_beyond_max, stays = len(stays) - config.max_stays, stays[: config.max_stays]
        log.info("data.max_stays=%d: %d stays after the first %d left out", config.max_stays, n_beyond_max, config.max_stays)
    after_window = sum(n_after_window(s, config.hours) for s in stays)
    if after_window:
        log.info("%d observations after the first %g h left out of the grid", after_window, config.hours)
    y = outcome_labels(stays, config.outcome)
    binned = [bin_stay(s, hours=config.hours, bin_minutes=config.bin_minutes) for s in stays]
    ids = [s.record_id for s in stays]
    info: dict[str, Any] = {
        "dataset": config.dataset,
        "sets": list(config.sets),
        "read": read_report.to_dict(),
        "stays_read": n_read,
        "excluded_no_time_series": {"count": len(excluded), "record_ids": excluded, "drop_empty": config.drop_empty},
        "left_out_by_max_stays": n_beyond_max,
        "stays_used": len(stays),
        "observations_after_window": after_window,
        "window_hours": config.hours,
    }  # fmt: skip
    samples = IcuStays(stays, y, binned, (float(config.hours), int(config.bin_minutes)))
    return TaskData(samples, np.array(ids, dtype=str), ids, info)


def split_info(y: np.ndarray, split: Split, config: IcuRunConfig, seed: int) -> dict[str, Any]:
    """Protocol and deaths per part, for metrics.json["data"]["split"] (the run writes the counts)."""
    d = config.data
    protocol = {"protocol": d.protocol, "seed": seed, "stratified_by": d.outcome}
    protocol |= {"folds": d.folds, "fold": d.fold} if d.protocol == "cv" else {"sizes": list(d.split_sizes)}
    return {**protocol, "deaths": {k: int(y[v].sum()) for k, v in split._asdict().items()}}


__all__ = ["IcuStays", "load_stays", "make_icu_split", "outcome_labels", "split_info"]
