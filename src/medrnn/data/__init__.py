"""Splits by record, patient, scaffold or stratified; datasets, loaders and collate -> Batch; batched scoring."""

from medrnn.data.batch import Batch, BeatDataset, collate, make_batch

__all__ = ["Batch", "BeatDataset", "collate", "make_batch"]
