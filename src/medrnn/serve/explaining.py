"""`?explain=METHOD`: the Predictor's `explain` written by `write_explanations` into a folder per request, kept for the
last few requests so the page can show the PNGs; the response carries the JSON and the links."""

from __future__ import annotations

import json
import re
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from medrnn.explain.output import write_explanations
from medrnn.serve.inputs import Inputs
from medrnn.serve.loading import ServedModel

KEY = re.compile(r"^[0-9a-f]{32}$")
FILE = re.compile(r"^[A-Za-z0-9_.+-]{1,200}\.(png|json)$")


class Store:
    """Explanation folders under `root`, the oldest removed past `keep`."""

    def __init__(self, root: Path, keep: int) -> None:
        self.root, self.keep = root, max(1, keep)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keys: list[str] = []
        self.lock = threading.Lock()

    def explain(self, model: ServedModel, inputs: Inputs, method: str, max_samples: int) -> dict[str, Any]:
        """Explain the inputs (on the model's worker thread) and write them; the ExplanationOut body (temp names)."""
        result = model.predictor.explain(inputs.paths, method=method, max_samples=max_samples)
        key = uuid.uuid4().hex
        out = self.root / key
        index = write_explanations(result, model.predictor.task, model.predictor.pipeline, out)
        self._remember(key)
        items = []
        for k, entry in enumerate(index["items"]):
            entry = self._rename(out, entry, f"input{k}")  # file names from temp paths -> neutral ones
            doc = json.loads((out / entry["json"]).read_text())
            items.append({"input": inputs.names.get(entry["item_id"], entry["item_id"]), "n_samples": entry["n_samples"],
                          "explained": entry["explained"], "json_url": f"/explanations/{key}/{entry['json']}",
                          "figures": [f"/explanations/{key}/{f}" for f in entry["figures"]],
                          "explanations": doc["explanations"]})  # fmt: skip
        return {"method": result.method, "items": items, "failures": {inputs.names.get(k, k): v for k, v in result.failures.items()}}

    @staticmethod
    def _rename(out: Path, entry: dict[str, Any], stem: str) -> dict[str, Any]:
        prefix = entry["json"][: -len(".json")]
        renamed = {}
        for name in [entry["json"], *entry["figures"]]:
            new = stem + name[len(prefix):] if name.startswith(prefix) else name
            (out / name).rename(out / new)
            renamed[name] = new
        return {**entry, "json": renamed[entry["json"]], "figures": [renamed[f] for f in entry["figures"]]}

    def _remember(self, key: str) -> None:
        with self.lock:
            self.keys.append(key)
            while len(self.keys) > self.keep:
                shutil.rmtree(self.root / self.keys.pop(0), ignore_errors=True)

    def file(self, key: str, name: str) -> Path | None:
        """A file of a kept explanation, or None (unknown key, a name that is not a plain PNG/JSON file name)."""
        if not KEY.match(key) or not FILE.match(name):
            return None
        path = self.root / key / name
        return path if path.is_file() else None
