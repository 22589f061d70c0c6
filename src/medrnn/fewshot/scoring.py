"""ROC-AUC per episode and the mean over episodes with a percentile bootstrap interval (episodes resampled)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medrnn.metrics.bootstrap import percentile_interval


def episode_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """ROC-AUC of one episode's queries (scikit-learn); NaN when the scores are not finite."""
    from sklearn.metrics import roc_auc_score

    scores = np.asarray(scores, dtype=np.float64)
    if not np.all(np.isfinite(scores)):
        return float("nan")
    return float(roc_auc_score(np.asarray(y, dtype=int), scores))


def summarise(aucs: Sequence[float], tasks: Sequence[str], n_boot: int = 1000, seed: int = 0, ci_level: float = 0.95) -> dict[str, Any]:
    """Mean ROC-AUC over episodes, its 95 % percentile bootstrap interval over episodes, the SD over episodes (what
    Altae-Tran et al. report) and the mean per held-out task."""
    values = np.asarray(aucs, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1) if n_boot and len(values) else []
    per_task = {t: round(float(np.mean(values[[i for i, u in enumerate(tasks) if u == t]])), 4) for t in dict.fromkeys(tasks)}
    return {"roc_auc": round(float(np.mean(values)), 4) if len(values) else None,
            "ci": [round(v, 4) for v in percentile_interval(means, ci_level) or []] or None,
            "sd_over_episodes": round(float(np.std(values)), 4) if len(values) else None,
            "episodes": int(len(values)), "per_task": per_task}  # fmt: skip
