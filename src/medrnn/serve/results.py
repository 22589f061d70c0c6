"""Predictions -> the response: client names instead of temp paths (rows, failures, messages), JSON-safe values."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from medrnn.predict import Predictions
from medrnn.serve.inputs import Inputs


def safe(value: Any) -> Any:
    """numpy and non-finite values made JSON-valid (NaN and infinities -> None)."""
    if isinstance(value, dict):
        return {str(k): safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def renamer(inputs: Inputs) -> Any:
    """A function replacing every temp path (and its folder) in a string by the client's name for it."""
    pairs = sorted(inputs.names.items(), key=lambda kv: -len(kv[0]))
    folders = {str(Path(p).parent) + "/" for p in inputs.names}

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            for path, name in pairs:
                value = value.replace(path, name)
            for folder in folders:
                value = value.replace(folder, "")
            return value
        if isinstance(value, dict):
            return {rename(k): rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    return rename


def predict_response(model: str, result: Predictions, inputs: Inputs, coverage: float | None, explained: Any, request_id: str,
                     seconds: float) -> dict[str, Any]:  # fmt: skip
    """The PredictResponse body of one request."""
    rename = renamer(inputs)
    items = [{"input": inputs.names.get(str(item.item_id), rename(str(item.item_id))), "rows": rename(safe(item.rows)),
              "rejected": rename(safe(item.problems)), "notes": rename(safe(item.notes))} for item in result.items]  # fmt: skip
    failures = {inputs.names.get(k, rename(k)): rename(safe(v)) for k, v in result.failures.items()}
    return {"model": model, "task": result.task, "request_id": request_id, "coverage": coverage, "columns": result.columns,
            "items": items, "failures": failures, "n_inputs": len(inputs.paths), "n_failed": result.n_failed,
            "explanation": rename(explained) if explained is not None else None, "seconds": round(seconds, 4)}  # fmt: skip
