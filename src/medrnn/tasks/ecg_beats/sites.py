"""Federated sites of MIT-BIH: every record (one patient each) is a site, as if each patient's Holter lab trained alone."""

from __future__ import annotations

import numpy as np

from medrnn.tasks.base import TaskData


def record_sites(data: TaskData) -> np.ndarray:
    """(n,) str: the record of every beat (the DS1 training records become the sites; DS2 stays the common test set)."""
    return np.asarray(data.samples.beats.record, dtype=str)


SITE_PARTITIONS = {"record": record_sites}
