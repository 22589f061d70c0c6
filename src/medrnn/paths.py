"""Where data and caches live: MEDRNN_DATA -> ../shared/data (when present) -> ~/.cache/medrnn."""

from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path:
    """Return the data root: $MEDRNN_DATA, else ../shared/data beside the working dir, else ~/.cache/medrnn."""
    env = os.environ.get("MEDRNN_DATA")
    if env:
        return Path(env).expanduser()
    shared = Path.cwd().parent / "shared" / "data"
    if shared.is_dir():
        return shared
    return Path.home() / ".cache" / "medrnn"


def cache_dir() -> Path:
    """Writable cache for derived arrays ($MEDRNN_CACHE or ~/.cache/medrnn/cache); data folders stay read-only."""
    path = Path(os.environ.get("MEDRNN_CACHE", Path.home() / ".cache" / "medrnn" / "cache")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_dataset(name_or_path: str) -> Path:
    """A path that exists, else the dataset of that name under the data root (not checked for existence)."""
    path = Path(name_or_path).expanduser()
    return path if path.exists() else dataset_dir(name_or_path)


def dataset_dir(name: str) -> Path:
    """Folder of one dataset under the data root (not checked for existence)."""
    return data_root() / name
