"""Poisoned inputs shared by the batch-survives tests of every predict path."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from medrnn.cli.main import main


@pytest.fixture
def poisoned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Inputs of every bad kind a batch meets: a folder, a dangling symlink, a symlink loop, binary garbage, and one
    whose reading raises a foreign exception deep inside (MemoryError, as an exhausted reader would)."""
    from medrnn.predict import Served

    folder = tmp_path / "poison"
    folder.mkdir()
    (folder / "a_folder.txt").mkdir()
    (folder / "dangling.txt").symlink_to(folder / "gone.txt")
    (folder / "loop.txt").symlink_to(folder / "loop.txt")
    (folder / "garbage.txt").write_bytes(bytes(range(256)) * 8)
    boom = folder / "boom.txt"
    boom.write_text("x")
    read = Served.read

    def poisoned_read(self: Served, source: str, options: dict) -> object:
        if source == str(boom):
            raise MemoryError("poisoned item")
        return read(self, source, options)

    monkeypatch.setattr(Served, "read", poisoned_read)
    return [str(folder / n) for n in ("a_folder.txt", "dangling.txt", "loop.txt", "garbage.txt")] + [str(boom)]


@pytest.fixture
def batch_survives(tmp_path: Path) -> Callable[..., list[dict[str, str]]]:
    """Predict good inputs mixed with bad ones: exit code 1, every bad one in the errors file, the good rows written."""

    def check(artifact: Path, good: list[str], bad: list[str], *flags: str) -> list[dict[str, str]]:
        out = tmp_path / "mixed.csv"
        inputs = [bad[0], *good[:1], *bad[1:], *good[1:]]
        assert main(["predict", "--artifact", str(artifact), *inputs, *flags, "--out", str(out)]) == 1
        errors = json.loads(out.with_suffix(".errors.json").read_text())
        for source in bad:
            entry = errors[source]
            assert ("error" in entry and entry["message"]) or entry.get("rejected"), (source, entry)
        assert not set(good) & {s for s, e in errors.items() if "error" in e}
        rows = list(csv.DictReader(out.open(encoding="utf-8")))
        assert rows, "the good inputs were not predicted"
        return rows

    return check
