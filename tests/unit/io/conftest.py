"""Fixtures for reader tests: the real MIT-BIH folder and writable copies of one record to corrupt."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from medrnn import paths


@pytest.fixture(scope="session")
def mitdb_folder() -> Path:
    """The read-only MIT-BIH folder under the data root; skip with the reason when it is absent."""
    folder = paths.dataset_dir("mitdb")
    if not (folder / "100.hea").is_file():
        pytest.skip(f"MIT-BIH not found under the data root ({folder}); run `medrnn data fetch mitdb` or set MEDRNN_DATA")
    return folder


@pytest.fixture
def record_copy(mitdb_folder: Path, tmp_path: Path) -> Callable[[str], Path]:
    """Copy one record's .hea/.dat/.atr into tmp_path/mitdb/ and return its base path (never touch the source)."""

    def make(record_id: str = "100") -> Path:
        dest = tmp_path / "mitdb"
        dest.mkdir(exist_ok=True)
        for ext in ("hea", "dat", "atr"):
            shutil.copyfile(mitdb_folder / f"{record_id}.{ext}", dest / f"{record_id}.{ext}")
        return dest / record_id

    return make
