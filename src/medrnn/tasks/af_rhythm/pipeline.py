"""The preprocessing of an AF model: how a record becomes model input (rate, band-pass, downsampling) and the classes.

Nothing is fitted on data: each record is scaled by its own median and SD, so the state is the data config alone and a
new record is read exactly as the training ones were."""

from __future__ import annotations

from dataclasses import dataclass

from medrnn.tasks.af_rhythm.config import AfDataConfig
from medrnn.tasks.af_rhythm.data import CLASSES
from medrnn.tasks.base import ConfigPipeline


@dataclass
class AfPipeline(ConfigPipeline):
    """How records are read into model input, and the class names."""

    config_class = AfDataConfig
    input_fields = ("sfreq_hz", "filter", "bandpass_hz", "downsample", "min_seconds")  # not the split settings

    @classmethod
    def fit(cls, config: AfDataConfig) -> AfPipeline:
        """The pipeline of a data config (nothing is fitted)."""
        return cls(config, list(CLASSES))
