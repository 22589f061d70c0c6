"""Splits by record/patient, the beat cache (`medrnn.data.mitdb`), Dataset and collate -> Batch."""

from medrnn.data.batch import Batch, BeatDataset, collate, make_batch

__all__ = ["Batch", "BeatDataset", "collate", "make_batch"]
