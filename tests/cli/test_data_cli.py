"""`medrnn data list|fetch`: the typer app directly, and through main(argv) as a user runs it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medrnn import download, paths
from medrnn.cli.data import app
from medrnn.errors import ConfigError


@pytest.fixture
def main() -> Callable[[Sequence[str]], int]:
    """medrnn.cli.main.main; skipped with the reason while a sibling subcommand module cannot be imported."""
    try:
        from medrnn.cli.main import main
    except ImportError as err:
        pytest.skip(f"medrnn.cli.main does not import yet: {err}")
    return main


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "PHYSIONET_HOST", "physionet.invalid")  # RFC 2606: never resolves


def test_list_real_data_root() -> None:
    folder = paths.dataset_dir("mitdb")
    if not (folder / "100.hea").is_file():
        pytest.skip(f"MIT-BIH not found under the data root ({folder})")
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    root, header, row = result.output.splitlines()[:3]
    assert root.startswith(f"data root {paths.data_root()}: ")  # where, and why there
    assert header.split() == ["name", "present", "path", "files"]
    assert row.split() == ["mitdb", "yes", str(folder), "145/145"]


def test_list_empty_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDRNN_DATA", str(tmp_path))
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == f"data root {tmp_path}: set by MEDRNN_DATA"
    assert result.output.splitlines()[2].split() == ["mitdb", "no", str(tmp_path / "mitdb"), "0/145"]


def test_help_teaches_with_examples() -> None:
    runner = CliRunner()
    assert "medrnn data fetch mitdb" in runner.invoke(app, ["--help"]).output
    fetch_help = runner.invoke(app, ["fetch", "--help"]).output
    assert "medrnn data fetch mitdb --dest ~/data/mitdb" in fetch_help and "--dest" in fetch_help


def test_fetch_help_names_every_source_not_only_physionet() -> None:
    text = " ".join(CliRunner().invoke(app, ["fetch", "--help"]).output.split())
    assert "from its source (PhysioNet, Zenodo or DeepChem's S3 bucket" in text and "Download a dataset from PhysioNet" not in text


def test_fetch_unknown_dataset_raises_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["fetch", "nope", "--dest", str(tmp_path)])
    assert isinstance(result.exception, ConfigError)


def test_main_data_list(
    main: Callable[[Sequence[str]], int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEDRNN_DATA", str(tmp_path))
    assert main(["data", "list"]) == 0
    assert "mitdb" in capsys.readouterr().out


def test_main_fetch_offline_exits_2_with_message(
    main: Callable[[Sequence[str]], int], offline: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["data", "fetch", "mitdb", "--dest", str(tmp_path / "mitdb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not reach PhysioNet") and "MEDRNN_DATA" in err


def test_main_fetch_unknown(main: Callable[[Sequence[str]], int], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "nope"]) == 2
    assert "known datasets: mitdb" in capsys.readouterr().err
