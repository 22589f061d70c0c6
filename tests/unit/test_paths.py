"""The data root: MEDRNN_DATA, else shared/data beside the medrnn checkout, else ~/.cache/medrnn; the same from any
working directory; datasets found under PhysioNet's zip folder names and in the fetch cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from medrnn import paths
from medrnn.datasets import default_fetch_dir


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDRNN_DATA", raising=False)


def test_checkout_is_the_folder_of_this_pyproject() -> None:
    checkout = paths.checkout_root()
    here = Path(__file__).resolve().parents[2]  # tests/unit/test_paths.py -> the checkout
    assert checkout == here and (checkout / "pyproject.toml").is_file()


def test_data_root_is_the_same_from_any_working_directory(no_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = paths.resolve_data_root()
    for cwd in (tmp_path, Path("/")):
        monkeypatch.chdir(cwd)
        assert paths.resolve_data_root() == first
    # a shared/data beside the working directory is not the checkout's
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert paths.resolve_data_root() == first


def test_order_env_then_shared_beside_checkout_then_cache(no_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = paths.shared_data_dir()
    assert shared == paths.checkout_root().parent / "shared" / "data"
    root = paths.resolve_data_root()
    if shared.is_dir():
        assert root.path == shared and "beside the medrnn checkout" in root.reason and not root.from_env
    else:
        assert root.path == paths.cache_root() and "MEDRNN_DATA not set" in root.reason
    monkeypatch.setenv("MEDRNN_DATA", str(tmp_path))
    assert paths.resolve_data_root() == paths.DataRoot(tmp_path, "set by MEDRNN_DATA", from_env=True)


def test_relative_env_is_made_absolute_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDRNN_DATA", "data")
    assert paths.data_root() == tmp_path / "data"


def test_no_checkout_without_a_medrnn_pyproject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "proj" / "venv" / "medrnn" / "paths.py"
    fake.parent.mkdir(parents=True)
    (tmp_path / "proj" / "pyproject.toml").write_text('[project]\nname = "other"\n')
    monkeypatch.setattr(paths, "__file__", str(fake))
    paths.checkout_root.cache_clear()
    try:
        assert paths.checkout_root() is None
    finally:
        monkeypatch.undo()
        paths.checkout_root.cache_clear()
    assert paths.checkout_root() is not None


def test_zip_folder_and_fetch_cache_are_found(no_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(paths, "shared_data_dir", lambda: tmp_path / "shared")  # a shared root without mitdb
    (tmp_path / "shared").mkdir()
    assert paths.dataset_dir("mitdb") == tmp_path / "shared" / "mitdb"
    cached = default_fetch_dir("mitdb")  # where `medrnn data fetch mitdb` writes without MEDRNN_DATA
    assert cached == tmp_path / "home" / ".cache" / "medrnn" / "mitdb"
    cached.mkdir(parents=True)
    assert paths.dataset_dir("mitdb") == cached
    unpacked = tmp_path / "shared" / "mit-bih-arrhythmia-database-1.0.0"
    unpacked.mkdir()
    assert paths.dataset_dir("mitdb") == unpacked  # the root's own copy first, as PhysioNet's zip names it
    assert paths.data_file("mitdb/100.hea") == unpacked / "100.hea"
