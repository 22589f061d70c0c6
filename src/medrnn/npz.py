"""Reading the arrays a run writes (.npz) without unpickling anything, with errors naming the file and the array."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.errors import InvalidRecordError


def load_npz(path: Path, required: tuple[str, ...]) -> dict[str, Any]:
    """Load an .npz without pickles and check that the required arrays are present."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InvalidRecordError(f"{path}: not a readable .npz without pickled objects ({err})") from err
    missing = [k for k in required if k not in data]
    if missing:
        raise InvalidRecordError(f"{path}: missing arrays {missing}; it holds {sorted(data)}")
    return data
