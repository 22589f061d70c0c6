"""Exit codes: a missing optional package names its extra (2); a defect in medrnn is an internal error (3)."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path

import pytest

from medrnn.cli import main as cli


def test_missing_optional_package_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real = builtins.__import__

    def no_rdkit(name: str, *args: object, **kwargs: object) -> object:
        if name.split(".")[0] == "rdkit":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)

    for module in [m for m in sys.modules if m.split(".")[0] == "rdkit"]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(builtins, "__import__", no_rdkit)
    out = tmp_path / "run"
    assert cli.main(["train", "smiles", "--data", "bbbp", "--quick", "--out", str(out), "--no-fetch"]) == 2
    assert "pip install 'medrnn[chem]'" in capsys.readouterr().err
    assert not out.exists()  # a run that failed before its first checkpoint leaves no half folder


def test_a_defect_is_exit_code_3_with_the_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli.app.registered_commands[[c.name for c in cli.app.registered_commands].index("tasks")], "callback", broken)
    assert cli.main(["tasks"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error: ZeroDivisionError: a bug" in err and "defect in medrnn" in err


def test_evaluate_names_a_folder_that_is_no_artifact(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["evaluate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "artifact" in err
