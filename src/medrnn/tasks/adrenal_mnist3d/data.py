"""AdrenalMNIST3D volumes of a run (official split kept), their fixed preprocessing (0/255 masks -> 0/1) and the one
scoring loop (probabilities and slice attention)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from medrnn import paths
from medrnn.data.batch import SequenceDataset, collate
from medrnn.data.splits import Split
from medrnn.errors import ConfigError
from medrnn.io.medmnist import SPLITS, read_medmnist3d
from medrnn.tasks.base import Pipeline, TaskData
from medrnn.tasks.adrenal_mnist3d.config import AdrenalDataConfig

DATASET = "medmnist3d"
LABELS = ["mass"]  # 0: normal adrenal gland, 1: adrenal mass


@dataclass
class AdrenalVolumes:
    """Volumes (each (slices, H, W) float32 in [0, 1]), ids, official split names and labels (NaN: unknown)."""

    ids: list[str]
    volumes: list[np.ndarray]
    y: np.ndarray  # (n,) float64
    parts: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> AdrenalVolumes:
        """The volumes at positions `index`, in that order."""
        index = np.asarray(index, dtype=np.int64)
        return AdrenalVolumes([self.ids[i] for i in index], [self.volumes[i] for i in index], self.y[index], [self.parts[i] for i in index])

    @staticmethod
    def concat(parts: list[AdrenalVolumes]) -> AdrenalVolumes:
        """The volumes of every part, in order."""
        return AdrenalVolumes([i for p in parts for i in p.ids], [v for p in parts for v in p.volumes],
                              np.concatenate([p.y for p in parts]), [s for p in parts for s in p.parts])  # fmt: skip


@dataclass
class AdrenalPipeline(Pipeline):
    """Nothing fitted: masks are scaled 0/255 -> 0/1; the slice size and the explanation regions are fixed."""

    side: int = 28
    region_px: int = 7
    threshold: float | None = None
    output_kind = "binary"  # type: ignore[assignment]

    @property
    def label_names(self) -> list[str]:  # type: ignore[override]
        """One output: mass (vs a normal adrenal gland)."""
        return list(LABELS)

    def features(self, samples: AdrenalVolumes) -> list[np.ndarray]:
        """Model input per volume: (slices, side * side) float32."""
        return [np.ascontiguousarray(v.reshape(len(v), -1), dtype=np.float32) for v in samples.volumes]

    def state_dict(self) -> dict[str, Any]:
        return {"side": self.side, "region_px": self.region_px, "labels": list(LABELS), "scale": "0/255 masks -> 0/1"}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> AdrenalPipeline:
        return cls(int(state["side"]), int(state["region_px"]))


def data_file(config: AdrenalDataConfig) -> Path:
    """The .npz a config names: inside an existing folder, else under the catalogue dataset's folder."""
    folder = Path(config.dataset).expanduser()
    if not folder.is_dir():
        if config.dataset != DATASET:
            raise ConfigError(f"data.dataset {config.dataset!r}: no such folder and not {DATASET!r}")
        folder = paths.dataset_dir(DATASET)
    return folder / config.file


def load_volumes(config: AdrenalDataConfig) -> TaskData:
    """Every volume of the three official splits (or the first `max_per_split` of each), labelled, in [0, 1]."""
    path = data_file(config)
    ids, volumes, labels, parts = [], [], [], []
    for split in SPLITS:
        images, y = read_medmnist3d(path, split)
        n = len(images) if config.max_per_split is None else min(len(images), config.max_per_split)
        ids += [f"{split}-{i}" for i in range(n)]
        volumes += [images[i].astype(np.float32) / np.float32(255.0) for i in range(n)]
        labels += y[:n].tolist()
        parts += [split] * n
    y = np.asarray(labels, dtype=np.float64)
    if set(np.unique(y)) - {0.0, 1.0}:
        raise ConfigError(f"{path}: labels {sorted(set(np.unique(y)))}; AdrenalMNIST3D is binary (0 normal, 1 mass)")
    info = {"dataset": config.dataset, "file": config.file, "split": "official MedMNIST v2",
            "counts": {s: int(parts.count(s)) for s in SPLITS},
            "masses": {s: int(sum(1 for p, v in zip(parts, y) if p == s and v == 1)) for s in SPLITS}}  # fmt: skip
    return TaskData(AdrenalVolumes(ids, volumes, y, parts), np.array(ids, dtype=str), ids, info)


def official_split(data: TaskData) -> Split:
    """Positions of the official train / val / test volumes."""
    parts = np.asarray(data.samples.parts)
    return Split(*(np.flatnonzero(parts == s) for s in SPLITS))


@torch.no_grad()
def score_volumes(model: nn.Module, xs: list[np.ndarray], batch_size: int = 64) -> tuple[np.ndarray, list[np.ndarray]]:
    """(sigmoid probabilities (n, 1) float64, slice attention per volume), in order."""
    model.eval()
    device = next(model.parameters()).device
    dataset = SequenceDataset([torch.from_numpy(x) for x in xs], np.zeros(len(xs), dtype=np.float32))
    probs, attention = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate):
        out = model(batch.to(device))
        probs.append(torch.sigmoid(out.logits).double().cpu())
        if out.attention is not None:
            attention += [a[:n].double().cpu().numpy() for a, n in zip(out.attention, batch.lengths.tolist())]
    return torch.cat(probs).numpy(), attention


__all__ = ["AdrenalPipeline", "AdrenalVolumes", "DATASET", "load_volumes", "official_split", "score_volumes"]
