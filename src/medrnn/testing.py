"""Helpers for testing readers on damaged copies of real files (used by the suite's property tests; needs hypothesis).

Readers promise that only MedrnnError leaves them; the tests damage small real files byte by byte and field by field
and check that promise. The byte-level part of that damage is the same for every reader and lives here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

BYTE_OPS = ("flip", "truncate", "insert", "delete")


class Files(dict):
    """Relative path -> bytes, with a short repr (hypothesis prints the arguments of a failing example)."""

    def __repr__(self) -> str:
        return f"<{len(self)} files: {sorted(self)[:4]}>"


def write_files(folder: Path, files: dict[str, bytes]) -> Path:
    """Write every (relative path, bytes) under `folder`; return the folder."""
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def byte_mutations(tokens: Sequence[str], *more: Any) -> Any:
    """A hypothesis strategy of (op, where in [0, 1], arg): bit flips, truncations, insertions (random bytes or one of
    `tokens`), deletions, plus the reader-specific strategies in `more`."""
    from hypothesis import strategies as st

    return st.one_of(
        st.tuples(st.just("flip"), st.floats(0, 1), st.integers(1, 255)),
        st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
        st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=12) | st.sampled_from([t.encode() for t in tokens])),
        st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 40)),
        *more,
    )


def mutate_bytes(data: bytes, mutation: tuple[str, float, Any]) -> bytes | None:
    """Apply a byte-level mutation at its relative position; None when the op is not a byte op (the caller's own)."""
    op, where, arg = mutation
    at = min(int(where * len(data)), max(len(data) - 1, 0))
    if op == "flip":
        return data[:at] + bytes([data[at] ^ arg]) + data[at + 1 :] if data else data
    if op == "truncate":
        return data[:at]
    if op == "insert":
        return data[:at] + arg + data[at:]
    if op == "delete":
        return data[:at] + data[at + arg :]
    return None


def replace_file(path: Path, kind: str, contents: dict[str, bytes]) -> None:
    """Put something else where the file `path` was: a directory, a dangling link, a link loop, a FIFO (reading it would
    block forever), or the bytes `contents[kind]`."""
    import os

    path.unlink(missing_ok=True)
    if kind == "directory":
        path.mkdir()
    elif kind == "dangling":
        path.symlink_to(path.with_name("nowhere"))
    elif kind == "loop":
        path.symlink_to(path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_bytes(contents[kind])
