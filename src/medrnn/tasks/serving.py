"""How the service (serve/) turns a request into the files a task's `read_input` reads: a declaration, no code.

A task sets `served_input = ServedInput(...)` (a ClassVar of the Task contract). The service writes uploads and JSON
items into a private temp folder and hands the resulting paths to the same `Predictor.predict` the CLI calls; it
never tests which task it serves. An imaging task adds its inputs here too (uploads=(".zip",), unzip=False: the task
reads the DICOM/NIfTI zip itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServedInput:
    """Uploads and JSON bodies a task accepts over HTTP, and the file each becomes.

    Uploaded files sharing a stem form one input (a WFDB record's .hea + .dat + .atr), handed to `read_input` as the
    path without suffix; a lone file is handed as itself. A JSON item becomes a file with `json_suffix`: a string is
    written as text, rows (strings, lists or dicts) as CSV under `json_columns`, anything else as JSON. With
    `json_one_file` every item is one row of a single file (a SMILES list), else each item is its own input.
    """

    uploads: tuple[str, ...] = ()  # accepted file suffixes, lower case (".hea", ".dat"); () = any suffix
    unzip: bool = True  # a .zip upload is expanded (bounded, safe paths) into its files; False: the task reads the zip
    json_suffix: str | None = None  # None: this task takes uploads only
    json_columns: tuple[str, ...] = ()  # the CSV header rows are written under; () = text or JSON
    json_one_file: bool = False
    json_example: Any = None  # a valid `items` list, for docs/serve.md, the OpenAPI schema and the web page

    def describe(self) -> dict[str, Any]:
        """The declaration as JSON, for `GET /models` and the web page."""
        return {"uploads": list(self.uploads), "unzip": self.unzip, "json_suffix": self.json_suffix,
                "json_columns": list(self.json_columns), "json_one_file": self.json_one_file, "json_example": self.json_example}
