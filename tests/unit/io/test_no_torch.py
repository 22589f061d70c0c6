"""Readers live below torch: importing every module of medrnn.io in a fresh interpreter loads no torch."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import medrnn.io


def test_every_reader_imports_without_torch() -> None:
    modules = sorted(f"medrnn.io.{m.name}" for m in pkgutil.iter_modules(medrnn.io.__path__))
    assert len(modules) >= 6, modules  # wfdb, smiles, physionet2012, mimic, mimic_notes, codiesp ...
    code = ("import sys, importlib\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "    assert 'torch' not in sys.modules, f'{name} imports torch'\n"
            "print(len(sys.modules))")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
