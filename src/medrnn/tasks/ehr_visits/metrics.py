"""Test metrics of coded-visit runs: AUROC/AUPRC per output with a patient bootstrap, plus accuracy@k (multi-label)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medrnn.metrics.outputs import evaluate_outputs
from medrnn.metrics.report import MetricReport


def accuracy_at_k(y: np.ndarray, score: np.ndarray, k: int) -> float:
    """Mean over samples with a true label of |top-k ∩ true| / min(k, |true|): GRAM's / Dipole's accuracy@k.

    Scored over the k most frequent training diagnoses the model predicts; samples whose next-visit diagnoses all
    fall outside them are not scored (their count is in the metrics), so it reads higher than recall over all codes.
    """
    keep = y.sum(axis=1) > 0
    if not keep.any():
        return float("nan")
    top = np.argsort(-score[keep], axis=1)[:, :k]
    hits = np.take_along_axis(y[keep], top, axis=1).sum(axis=1)
    return float(np.mean(hits / np.minimum(k, y[keep].sum(axis=1))))


def evaluate_visits(y: np.ndarray, score: np.ndarray, label_names: Sequence[str], output_kind: str, patients: Sequence[str],
                    n_boot: int, seed: int) -> MetricReport:  # fmt: skip
    """AUROC and AUPRC per output; CIs resample test patients whole (all of a patient's samples together)."""
    return evaluate_outputs(y, score, list(label_names), output_kind, units=np.asarray(patients), unit="patients",
                            n_boot=n_boot, seed=seed)  # fmt: skip


def ranking_metrics(y: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """accuracy@10 and @20 and the samples left unscored, for multi-label outputs; {} for one output."""
    if y.shape[1] <= 1:
        return {}
    out: dict[str, Any] = {f"accuracy@{k}": accuracy_at_k(y, score, k) for k in (10, 20)}
    out["samples_without_top_k_label"] = int((y.sum(axis=1) == 0).sum())
    return out
