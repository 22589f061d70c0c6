"""Conformal sets and intervals as output columns: one helper for every task's `decode` and `columns`.

The Predictor puts a `ConformalOutput` into `scores.extras["conformal"]` and hands `decode`/`columns` a copy of the
pipeline with `coverage` set, only when `--coverage` was asked; otherwise these helpers add nothing.
"""

from __future__ import annotations

import copy
from typing import Any

COVERAGE_ATTR = "coverage"


def with_coverage(pipeline: Any, coverage: float) -> Any:
    """A shallow copy of the pipeline that tells `decode`/`columns` to add the conformal columns."""
    marked = copy.copy(pipeline)
    setattr(marked, COVERAGE_ATTR, float(coverage))
    return marked


def asked(pipeline: Any) -> bool:
    """True when predict was asked for a coverage."""
    return getattr(pipeline, COVERAGE_ATTR, None) is not None


def conformal_columns(pipeline: Any, per_label: bool = False) -> list[str]:
    """The added columns: prediction_set + set_size (classes; one row per sample), in_set (one row per label), or
    lower_<name> + upper_<name> per output (regression); [] when no coverage was asked."""
    if not asked(pipeline):
        return []
    if pipeline.output_kind == "regression":
        return [f"{side}_{n}" for n in pipeline.label_names for side in ("lower", "upper")]
    return ["in_set"] if per_label else ["prediction_set", "set_size"]


def conformal_fields(scores: Any, i: int, pipeline: Any) -> dict[str, Any]:
    """The conformal columns of sample `i` (a row per sample); {} when no coverage was asked."""
    out = scores.extras.get("conformal") if asked(pipeline) else None
    if out is None:
        return {}
    if out.kind == "interval":
        sides = (("lower", out.lower), ("upper", out.upper))
        return {f"{side}_{n}": round(float(v[i, j]), 6) for j, n in enumerate(out.names) for side, v in sides}
    chosen = [n for n, m in zip(out.names, out.member[i]) if m]
    return {"prediction_set": "|".join(chosen), "set_size": len(chosen)}


def in_set(scores: Any, i: int, k: int, pipeline: Any) -> dict[str, Any]:
    """{"in_set": bool} for label `k` of sample `i` (a row per label or code); {} when no coverage was asked."""
    out = scores.extras.get("conformal") if asked(pipeline) else None
    return {} if out is None else {"in_set": bool(out.member[i, k])}


def set_labels(scores: Any, i: int, pipeline: Any) -> list[int]:
    """Positions of the labels in sample `i`'s set (multilabel), [] when no coverage was asked."""
    out = scores.extras.get("conformal") if asked(pipeline) else None
    return [] if out is None else [int(k) for k in out.member[i].nonzero()[0]]
