"""The preprocessing of an EEG seizure model: the window settings and the protocol's classes (nothing is fitted:
each window is standardised on its own)."""

from __future__ import annotations

from dataclasses import dataclass

from medrnn.tasks.base import ConfigPipeline
from medrnn.tasks.eeg_seizure.config import PROTOCOLS, EegDataConfig


@dataclass
class EegPipeline(ConfigPipeline):
    """Window settings and class names of a protocol."""

    config_class = EegDataConfig
    input_fields = ("protocol", "sfreq_hz", "window_s", "stride_s")  # how windows are cut; the split settings are not

    @classmethod
    def fit(cls, config: EegDataConfig) -> EegPipeline:
        """The pipeline of a protocol's data config (nothing is fitted)."""
        return cls(config, list(PROTOCOLS[config.protocol][0]))
