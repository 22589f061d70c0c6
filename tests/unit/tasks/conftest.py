"""Real data the task tests share, skipped with the fetch command when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from medrnn import paths


@pytest.fixture(scope="module")
def set_a() -> Path:
    """PhysioNet 2012 set A (its folder; Outcomes-a.txt beside it)."""
    folder = paths.dataset_dir("physionet2012") / "set-a"
    if not folder.is_dir() or not (folder.parent / "Outcomes-a.txt").exists():
        pytest.skip(f"PhysioNet 2012 set A not found under the data root ({folder}); run `medrnn data fetch physionet2012`")
    return folder


@pytest.fixture(scope="module")
def mimic4() -> Path:
    """The MIMIC-IV demo folder (with its hosp/ tables)."""
    root = paths.dataset_dir("mimic4-demo")
    if not (root / "hosp").is_dir():
        pytest.skip(f"mimic4-demo not found under {root}; run `medrnn data fetch mimic4-demo`")
    return root
