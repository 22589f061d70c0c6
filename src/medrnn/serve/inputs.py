"""A request -> files in a private temp folder, handed to the Predictor as paths (the task's own readers read them).

Uploads keep their base names (a WFDB header names its signal file); files sharing a stem form one input. Zips are
expanded with bounds (entries, sizes, total) and no absolute or `..` paths. JSON items become files as the task's
`served_input` declares (tasks/serving.py). Nothing here knows a task by name.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from medrnn.serve.settings import ServeSettings
from medrnn.tasks.serving import ServedInput

SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$")


class RequestError(Exception):
    """A refused request: HTTP status, the field or file at fault, and what was expected."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message


@dataclass
class Inputs:
    """Paths to hand to `predict`, and the name the client knows each by (never logged)."""

    paths: list[str]
    names: dict[str, str]  # path -> client name


def check_name(name: str, field: str) -> str:
    """The base name of an upload, refused (422) when it is empty, a path or holds unusual characters."""
    base = PurePosixPath(name.replace("\\", "/")).name
    if not SAFE_NAME.match(base) or base in (".", ".."):
        raise RequestError(422, field, f"file name {base[:80]!r}: expected letters, digits, '_', '.', '+' or '-' (up to 128), "
                                       "starting with a letter or digit")  # fmt: skip
    return base


def unzip(data: bytes, zip_name: str, settings: ServeSettings, budget: list[int]) -> list[tuple[str, bytes]]:
    """The files of one zip, bounded: entry count, each entry's and the total uncompressed size, safe relative paths."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, ValueError, OSError) as err:
        raise RequestError(422, zip_name, f"not a readable zip archive ({err})") from None
    if len(infos) > settings.max_files:
        raise RequestError(413, zip_name, f"{len(infos)} entries; at most {settings.max_files} files per request")
    out = []
    for info in infos:
        parts = PurePosixPath(info.filename.replace("\\", "/"))
        if info.filename.startswith(("/", "\\")) or parts.is_absolute() or ".." in parts.parts or re.match(r"^[A-Za-z]:", info.filename):
            raise RequestError(422, zip_name, f"entry {info.filename[:80]!r}: absolute or '..' paths are refused")
        if info.file_size > settings.max_file_bytes or info.file_size > budget[0]:
            raise RequestError(413, zip_name, f"entry {parts.name[:80]!r} unpacks to {info.file_size} bytes; limits: "
                                              f"{settings.max_file_bytes} per file, {settings.max_unzipped_bytes} per request")  # fmt: skip
        with archive.open(info) as handle:  # read at most the declared size + 1: a lying header cannot inflate further
            content = handle.read(info.file_size + 1)
        if len(content) > info.file_size:
            raise RequestError(413, zip_name, f"entry {parts.name[:80]!r} unpacks past its declared size")
        budget[0] -= len(content)
        out.append((check_name(parts.name, zip_name), content))
    return out


def write_uploads(files: list[tuple[str, bytes]], spec: ServedInput, folder: Path, settings: ServeSettings) -> Inputs:
    """Uploaded (name, bytes) -> one input per stem under `folder`; refused: a suffix the task does not read (415)."""
    expanded: list[tuple[str, str, bytes]] = []  # (field, name, content)
    budget = [settings.max_unzipped_bytes]
    for raw_name, content in files:
        name = check_name(raw_name, "files")
        if spec.unzip and name.lower().endswith(".zip"):
            expanded += [(name, n, c) for n, c in unzip(content, name, settings, budget)]
        else:
            expanded.append((name, name, content))
    if len(expanded) > settings.max_files:
        raise RequestError(413, "files", f"{len(expanded)} files; at most {settings.max_files} per request")
    groups: dict[str, list[str]] = {}
    for field, name, content in expanded:
        suffix = PurePosixPath(name).suffix.lower()
        if spec.uploads and suffix not in spec.uploads:
            got = suffix or "files without suffix"
            raise RequestError(415, field, f"{name}: this model reads {', '.join(spec.uploads)} files, not {got}")
        stem = name[: -len(suffix)] if suffix else name
        if name in groups.get(stem, []):
            raise RequestError(422, field, f"{name}: sent twice in one request")
        (folder / name).write_bytes(content)
        groups.setdefault(stem, []).append(name)
    paths, names = [], {}
    for stem, members in groups.items():
        path = str(folder / members[0]) if len(members) == 1 else str(folder / stem)
        paths.append(path)
        names[path] = members[0] if len(members) == 1 else stem
    return Inputs(paths, names)


def render_item(item: Any, spec: ServedInput, field: str) -> str:
    """One JSON item as the text of the file it becomes (CSV rows, text, or JSON)."""
    if spec.json_columns:
        if not isinstance(item, list) or not item:
            raise RequestError(422, field, f"expected a non-empty list of rows with columns {', '.join(spec.json_columns)}")
        return csv_text([row_values(r, spec.json_columns, f"{field}[{k}]") for k, r in enumerate(item)], spec.json_columns)
    if isinstance(item, str):
        return item
    return json.dumps(item)


def row_values(row: Any, columns: tuple[str, ...], field: str) -> list[str]:
    """A row given as a string (first column), a list (in column order) or an object (by column name)."""
    if isinstance(row, (str, int, float)) and not isinstance(row, bool):
        return [str(row)] + [""] * (len(columns) - 1)
    if isinstance(row, list) and len(row) == len(columns) and all(isinstance(v, (str, int, float)) for v in row):
        return [str(v) for v in row]
    if isinstance(row, dict) and set(row) <= set(columns) and all(isinstance(v, (str, int, float)) for v in row.values()):
        return [str(row.get(c, "")) for c in columns]
    raise RequestError(422, field, f"expected a row: a string, a list of {len(columns)} values or an object with keys "
                                   f"{', '.join(columns)}")  # fmt: skip


def csv_text(rows: list[list[str]], columns: tuple[str, ...]) -> str:
    """Rows under a header, as CSV text."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def write_json_items(items: list[Any], spec: ServedInput, folder: Path, settings: ServeSettings) -> Inputs:
    """JSON items -> files with the task's suffix: one file of rows (json_one_file) or one file per item."""
    if spec.json_suffix is None:
        raise RequestError(415, "body", "this model reads uploaded files only: send multipart/form-data with field 'files'")
    if not items:
        raise RequestError(422, "items", "expected at least one item")
    if len(items) > settings.max_items:
        raise RequestError(422, "items", f"{len(items)} items; at most {settings.max_items} per request")
    if spec.json_one_file:
        texts = [render_item(items, spec, "items")]
    else:
        texts = [render_item(x, spec, f"items[{k}]") for k, x in enumerate(items)]
    paths, names = [], {}
    for k, text in enumerate(texts):
        path = folder / f"item-{k}{spec.json_suffix}"
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
        names[str(path)] = "items" if spec.json_one_file else f"items[{k}]"
    return Inputs(paths, names)
