"""Where data and caches live.

The data root is, in this order:
1. `$MEDRNN_DATA` when set (a relative path is taken from the working directory medrnn starts in);
2. `shared/data` beside the medrnn source checkout, i.e. `<checkout>/../shared/data`, when that folder exists. The
   checkout is the folder holding the `pyproject.toml` of medrnn above this file (an editable install, `pip install
   -e .`); it does not depend on the working directory. An installed wheel has no checkout and skips this step;
3. `~/.cache/medrnn`.

A dataset that is not under the root is also looked for in `~/.cache/medrnn` (where `medrnn data fetch` puts it when
MEDRNN_DATA is not set), and under the folder name PhysioNet's "Download the ZIP file" unpacks to (mitdb:
`mit-bih-arrhythmia-database-1.0.0/`).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

# the folder each PhysioNet zip unpacks to, found as is under the data root (no renaming needed)
UNPACKED_AS: dict[str, tuple[str, ...]] = {
    "mitdb": ("mit-bih-arrhythmia-database-1.0.0",),
    "physionet2012": ("predicting-mortality-of-icu-patients-the-physionet-computing-in-cardiology-challenge-2012-1.0.0",),
    "mimic3-demo": ("mimic-iii-clinical-database-demo-1.4",),
    "mimic4-demo": ("mimic-iv-clinical-database-demo-2.2",),
    "cinc2017": ("af-classification-from-a-short-single-lead-ecg-recording-the-physionet-computing-in-cardiology-challenge-2017-1.0.0",),
}


@dataclass(frozen=True)
class DataRoot:
    """The data root and why it was chosen (for `medrnn data list` and the not-found messages)."""

    path: Path
    reason: str
    from_env: bool = False


def cache_root() -> Path:
    """~/.cache/medrnn: the last-resort data root and where `medrnn data fetch` writes without MEDRNN_DATA."""
    return Path.home() / ".cache" / "medrnn"


@functools.cache
def checkout_root() -> Path | None:
    """The medrnn source checkout this module runs from (editable install), or None for an installed package.

    Walks up from this file to the first pyproject.toml and accepts it only if it names the medrnn project, so a
    virtual environment inside some other project is never taken for a medrnn checkout.
    """
    for folder in Path(__file__).resolve().parents:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                text = pyproject.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
            return folder if re.search(r'^name\s*=\s*"medrnn"\s*$', text, re.MULTILINE) else None
    return None


def shared_data_dir() -> Path | None:
    """`<checkout>/../shared/data` (whether or not it exists), or None without a checkout."""
    checkout = checkout_root()
    return None if checkout is None else checkout.parent / "shared" / "data"


def resolve_data_root() -> DataRoot:
    """The data root with the reason it was chosen; the same from any working directory (see the module docstring)."""
    env = os.environ.get("MEDRNN_DATA")
    if env:
        return DataRoot(Path(env).expanduser().absolute(), "set by MEDRNN_DATA", from_env=True)
    shared, checkout = shared_data_dir(), checkout_root()
    if shared is not None and shared.is_dir():
        return DataRoot(shared, f"../shared/data beside the medrnn checkout {checkout}; MEDRNN_DATA not set")
    where = f"no ../shared/data beside the medrnn checkout {checkout}" if shared is not None else "not a source checkout"
    return DataRoot(cache_root(), f"the default: MEDRNN_DATA not set, {where}")


def data_root() -> Path:
    """The data root: $MEDRNN_DATA, else shared/data beside the medrnn checkout, else ~/.cache/medrnn."""
    return resolve_data_root().path


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
    """Folder of one dataset: ROOT/NAME, else PhysioNet's unpacked zip folder under ROOT, else ~/.cache/medrnn/NAME
    (without MEDRNN_DATA); ROOT/NAME when none exists (not checked for existence)."""
    root = resolve_data_root()
    folder = root.path / name
    if folder.exists():
        return folder
    for unpacked in UNPACKED_AS.get(name, ()):
        if (root.path / unpacked).is_dir():
            return root.path / unpacked
    if not root.from_env and (cache_root() / name).exists():
        return cache_root() / name
    return folder


def data_file(relative: str) -> Path:
    """A file named relative to the data root, e.g. "moleculenet/BBBP.csv", looked up through `dataset_dir`."""
    name, _, rest = relative.replace("\\", "/").partition("/")
    return dataset_dir(name) / rest if rest else dataset_dir(name)
