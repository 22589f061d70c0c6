"""Where a task's `--data` points: a catalogue dataset under the data root, or a folder of the user's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medrnn.errors import ConfigError


def missing_catalogue_folder(data: str, known: Sequence[str], other: str) -> dict[str, list[str]]:
    """`Task.missing_data` of a `--data` that is a catalogue dataset name or a folder: {name: what is missing} for a
    dataset not (all) under the data root, {} for an existing folder, else a ConfigError naming the known datasets."""
    from medrnn.datasets import missing_under_root

    if Path(data).expanduser().exists():
        return {}
    if data in known:
        missing = missing_under_root(data)
        return {data: missing} if missing else {}
    raise ConfigError(f"--data {data!r}: no such folder and not a known dataset; known: {', '.join(known)}, or {other}")
