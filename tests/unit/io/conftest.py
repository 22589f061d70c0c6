"""Fixtures for reader tests: writable copies of one real record to corrupt (the folder comes from tests/conftest.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def record_copy(mitdb_dir: Path, tmp_path: Path) -> Callable[[str], Path]:
    """Copy one record's .hea/.dat/.atr into tmp_path/mitdb/ and return its base path (never touch the source)."""

    def make(record_id: str = "100") -> Path:
        dest = tmp_path / "mitdb"
        dest.mkdir(exist_ok=True)
        for ext in ("hea", "dat", "atr"):
            shutil.copyfile(mitdb_dir / f"{record_id}.{ext}", dest / f"{record_id}.{ext}")
        return dest / record_id

    return make
