"""Reading the files a run writes (.npz arrays without unpickling anything, JSON), with errors naming the file and
what was expected."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.errors import ConfigError, InvalidRecordError

COMPLETE = "RUN_COMPLETE"  # written last by a run; a folder without it did not finish


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


def load_json(path: Path, expected: type, what: str) -> Any:
    """A JSON file holding a `expected` (dict or list); unreadable or of another shape is an InvalidRecordError."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidRecordError(f"{path}: unreadable {what} ({err})") from err
    if not isinstance(value, expected):
        raise InvalidRecordError(f"{path}: {what} holds {type(value).__name__}, expected a JSON {'object' if expected is dict else 'list'}")
    return value


def require_complete(run_dir: Path) -> None:
    """Refuse a run folder that did not finish (no RUN_COMPLETE): its files may mix this run with an older one."""
    run_dir = Path(run_dir)
    if (run_dir / "config.yaml").is_file() and not (run_dir / COMPLETE).is_file():
        raise ConfigError(f"{run_dir}: the run did not finish ({COMPLETE} missing); resume it with "
                          f"`medrnn train TASK --resume {run_dir}` or train again with --overwrite")  # fmt: skip
