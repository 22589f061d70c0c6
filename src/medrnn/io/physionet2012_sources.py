"""Where PhysioNet 2012 stays come from: a set's folder of NNNNNN.txt files or its tar archive, read without unpacking."""

from __future__ import annotations

import lzma
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from medrnn.errors import DataNotFoundError, InvalidRecordError
from medrnn.io.physionet2012_outcomes import FETCH_HINT


def set_source(root: Path, name: str) -> Path:
    """The folder `set-x/` or, failing that, the archive `set-x.tar.gz` (PhysioNet's) or `set-x.tar.xz` of one set."""
    candidates = [root / f"set-{name}", root / f"set-{name}.tar.gz", root / f"set-{name}.tar.xz"]
    if candidates[0].is_dir() and any(candidates[0].glob("*.txt")):
        return candidates[0]
    for cand in candidates[1:]:
        if cand.is_file():
            return cand
    folder, gz, xz = candidates
    looked = f"{folder}/ (a folder of NNNNNN.txt files), {gz} (PhysioNet's archive) or {xz}"
    raise DataNotFoundError(f"PhysioNet 2012 set {name.upper()} not found: looked for {looked}; {FETCH_HINT}")


def iter_files(source: Path) -> Iterator[tuple[str, bytes | InvalidRecordError]]:
    """(source name, bytes) of each record file in a folder or a tar archive (.gz or .xz), in name order, never unpacking to disk.

    Archive members are taken from any folder inside: PhysioNet's archives hold `set-a/NNNNNN.txt`, a flat one `NNNNNN.txt`.
    A file of a folder that cannot be read (a folder itself, a dangling link) comes as an error, for the report; a
    damaged archive raises InvalidRecordError naming it, since the stays after the damage cannot be listed.
    """
    if source.is_dir():
        for p in sorted(source.glob("*.txt")):
            try:
                yield str(p), p.read_bytes()
            except OSError as err:
                yield str(p), InvalidRecordError(f"{p}: cannot read the file ({type(err).__name__}: {err.strerror or err})")
        return
    member = "its member list"
    try:
        with tarfile.open(source, "r:*") as tf:
            for m in sorted((m for m in tf.getmembers() if m.isfile() and m.name.endswith(".txt")), key=lambda m: m.name):
                member = m.name
                fh = tf.extractfile(m)
                if fh is not None:
                    yield f"{source}:{m.name}", fh.read()
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as err:
        raise InvalidRecordError(f"{source}: damaged archive, reading {member} failed ({type(err).__name__}: {err}); expected a "
                                 "tar.gz or tar.xz of NNNNNN.txt files (fetch the set again)") from err  # fmt: skip
