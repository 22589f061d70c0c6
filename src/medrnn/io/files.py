"""The first check of every reader: the path is a regular file it can open, else an InvalidRecordError saying what is
there instead (missing, a dangling link, a loop, a folder, a FIFO that would block, no permission)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from medrnn.errors import InvalidRecordError


def regular_file(path: Path, role: str = "file", missing: str = "") -> os.stat_result:
    """stat() of `path` if it is a readable regular file; `missing` finishes the message for a file that is not there.

    The file is opened once so that a permission problem is reported here, by name, not from deep inside a library.
    """
    hint = f" ({missing})" if missing else ""
    try:
        info = path.stat()
    except FileNotFoundError:
        dangling = os.path.islink(path)
        target = f" (points to {os.readlink(path)!r}, which does not exist)" if dangling else ""
        raise InvalidRecordError(f"{path}: {role} {'is a dangling symbolic link' + target if dangling else 'not found'}{hint}") from None
    except (OSError, ValueError) as err:  # name too long, not a directory, a NUL in the path, a symlink loop
        raise InvalidRecordError(f"{path}: cannot access {role} ({getattr(err, 'strerror', None) or err})") from err
    if stat.S_ISDIR(info.st_mode):
        raise InvalidRecordError(f"{path}: {role} is a directory, expected a regular file{hint}")
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
        raise InvalidRecordError(f"{path}: {role} is not a regular file (mode {stat.filemode(info.st_mode)})")
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise InvalidRecordError(f"{path}: cannot open {role} ({err.strerror or err}; check its permissions)") from err
    return info
