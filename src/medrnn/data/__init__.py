"""Splits by record/patient, the beat cache (`medrnn.tasks.ecg_beats.data`), Dataset and collate -> Batch."""

from medrnn.data.batch import Batch, BeatDataset, collate, make_batch

__all__ = ["Batch", "BeatDataset", "collate", "make_batch"]
