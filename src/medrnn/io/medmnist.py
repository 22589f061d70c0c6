"""MedMNIST v2 3-D files (`<name>mnist3d.npz`: `<split>_images` (n, 28, 28, 28) uint8, `<split>_labels` (n, 1)) with
their official train/val/test splits. No torch here."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from medrnn.errors import InvalidRecordError
from medrnn.io.files import regular_file

SPLITS = ("train", "val", "test")


def read_medmnist3d(path: str | os.PathLike[str], split: str) -> tuple[np.ndarray, np.ndarray]:
    """(volumes (n, depth, height, width) uint8, labels (n,) int64) of one official split; checked shapes and labels.

    Raises InvalidRecordError naming the file and key: not an npz, a missing key, volumes not (n, D, H, W), a label
    count that differs from the volumes', labels that are not whole non-negative numbers.
    """
    p = Path(path).expanduser()
    if split not in SPLITS:
        raise InvalidRecordError(f"{p}: split {split!r}; the official splits are {', '.join(SPLITS)}")
    regular_file(p, "MedMNIST file")
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in (f"{split}_images", f"{split}_labels") if k not in data.files]
            if missing:
                raise InvalidRecordError(f"{p}: missing key {', '.join(missing)}; the file holds {', '.join(data.files)}")
            images, labels = np.asarray(data[f"{split}_images"]), np.asarray(data[f"{split}_labels"])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise InvalidRecordError(f"{p}: not a readable .npz file ({type(err).__name__}: {err})") from err
    if images.ndim != 4 or min(images.shape[1:], default=0) < 1:
        raise InvalidRecordError(f"{p}: {split}_images has shape {images.shape}; expected (n, depth, height, width) volumes")
    labels = labels.reshape(len(labels), -1)
    if labels.shape != (len(images), 1):
        raise InvalidRecordError(f"{p}: {split}_labels has shape {labels.shape}; expected ({len(images)}, 1), one label per volume")
    if not np.isfinite(labels.astype(np.float64)).all() or (labels < 0).any() or (labels != np.round(labels)).any():
        raise InvalidRecordError(f"{p}: {split}_labels holds values other than whole non-negative numbers")
    return images, labels[:, 0].astype(np.int64)


__all__ = ["SPLITS", "read_medmnist3d"]
