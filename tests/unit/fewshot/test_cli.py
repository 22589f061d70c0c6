"""`medrnn fewshot molecules` on a tiny configuration: runs in seconds, writes the results JSON, refuses a bad k."""

from __future__ import annotations

import json
from pathlib import Path

from medrnn.cli.main import main


def test_fewshot_cli_tiny(moleculenet_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "fs"
    code = main(["fewshot", "molecules", "--data", "sider", "--k", "1,5", "--episodes", "1", "--meta-steps", "2", "--methods",
                 "protonet", "--max-query", "30", "--hidden-size", "8", "--out", str(out)])  # fmt: skip
    assert code == 0
    result = json.loads((out / "fewshot.json").read_text())
    assert set(result["methods"]) == {"protonet"}  # the other methods' pieces are tested in test_protonet.py
    assert result["methods"]["protonet"]["per_k"]["5"]["episodes"] == 6  # 1 episode x 6 held-out SIDER tasks
    assert result["data"]["test_tasks"][0] == "Renal and urinary disorders"


def test_fewshot_cli_refuses_bad_k(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["fewshot", "molecules", "--k", "0", "--out", str(tmp_path / "x")]) == 2
    assert "k must be" in capsys.readouterr().err
