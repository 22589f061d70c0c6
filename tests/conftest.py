"""Shared fixtures: small real data from the data root; skips only when the files are genuinely absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from medrnn import paths


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test, module fixtures included, writes caches into one session temp dir, never into the user's ~/.cache."""
    before = os.environ.get("MEDRNN_CACHE")
    os.environ["MEDRNN_CACHE"] = str(tmp_path_factory.getbasetemp() / "medrnn-cache")
    torch.set_num_threads(2)
    yield
    if before is None:
        os.environ.pop("MEDRNN_CACHE", None)
    else:
        os.environ["MEDRNN_CACHE"] = before


@pytest.fixture(scope="session")
def mitdb_dir() -> Path:
    """The MIT-BIH folder under the data root; skip with the reason when it is not there."""
    folder = paths.dataset_dir("mitdb")
    if not (folder / "100.hea").exists():
        pytest.skip(f"MIT-BIH not found under the data root ({folder}); run `medrnn data fetch mitdb` or set MEDRNN_DATA")
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def moleculenet_dir() -> Path:
    """The MoleculeNet folder under the data root; skip with the reason when it is not there."""
    folder = paths.dataset_dir("moleculenet")
    if not (folder / "BBBP.csv").exists():
        pytest.skip(f"MoleculeNet not found under the data root ({folder}); run `medrnn data fetch moleculenet` or set MEDRNN_DATA")
    return folder


@pytest.fixture
def empty_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root with nothing in it."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("MEDRNN_DATA", str(root))
    return root
