"""Configuration of ECG beat runs (MIT-BIH, inter-patient protocol); defaults are the benchmarked recipe."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medrnn.config.schema import ModelConfig, StrictConfig, TrainConfig

# MIT-BIH inter-patient protocol (de Chazal 2004); paced records 102 104 107 217 are in neither set.
# Records 201 (DS1) and 202 (DS2) come from one patient; the published split is kept as is so results
# stay comparable with the literature (SignalRecord.patient_id says so: mitdb_patient_id).
MITDB_DS1 = tuple("101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230".split())
MITDB_DS2 = tuple("100 103 105 111 113 117 121 123 200 202 210 212 213 214 219 221 222 228 231 232 233 234".split())


class BeatDataConfig(StrictConfig):
    """How beats are cut from a raw ECG: lead, window, filtering, RR context."""

    dataset: str = "mitdb"
    lead: str = "MLII"
    sfreq_hz: float = 360.0  # expected rate of the raw record; a different one is an error
    pre_s: float = Field(0.25, gt=0, description="window start before the R peak, seconds")
    post_s: float = Field(0.45, gt=0, description="window end after the R peak, seconds")
    filter: bool = True  # 0.5-40 Hz zero-phase band-pass: removes baseline wander and mains/EMG noise
    bandpass_hz: tuple[float, float] = (0.5, 40.0)
    downsample: int = Field(2, ge=1, description="keep every k-th sample after anti-alias filtering")
    rr_features: bool = True  # previous/next/local/record-mean RR, raw and as ratios
    local_rr_beats: int = Field(10, ge=1)
    # "raw": the beat window; "template": the beat minus the record's median beat (patient-adaptive);
    # "raw+template": both as two channels
    channels: Literal["raw", "template", "raw+template"] = "template"
    # the rhythm model (model beat_rhythm): each beat read with its K neighbours on each side, in the same record
    context_beats: int = Field(0, ge=0, le=64, description="neighbouring beats on each side (0: the beat alone)")
    context_decimate: int = Field(2, ge=1, description="neighbourhood windows keep every k-th sample (after the band-pass)")
    train_records: list[str] = list(MITDB_DS1)  # DS1: training, validation records held out of it
    test_records: list[str] = list(MITDB_DS2)  # DS2: touched only for the final evaluation
    val_records: int = Field(4, ge=1, description="training records held out (whole) for validation")


class BeatRunConfig(StrictConfig):
    """Everything that defines one ECG beat run; written to config.yaml beside its outputs."""

    data: BeatDataConfig = BeatDataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    bootstrap: int = Field(1000, ge=0, description="bootstrap resamples (by record) for the CIs")
    # "tuned": per-class weights on the probabilities chosen on the validation records to maximise jκ (decision.py)
    decision: Literal["argmax", "tuned"] = "argmax"
