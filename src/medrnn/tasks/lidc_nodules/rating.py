"""The rating regression (`--labels rating`) scored as the binary task is: the AUROC of the predicted mean rating for
benign vs malignant, on the test nodules that have one of those labels (median rating < 3 or > 3), with its bootstrap
CI over patients, so a rating model can be set beside the benign-vs-malignant ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from medrnn.metrics.outputs import evaluate_outputs
from medrnn.tasks.lidc_nodules.data import NoduleSet


def rating_auroc(samples: NoduleSet, predicted: np.ndarray, units: np.ndarray, n_boot: int, seed: int) -> dict[str, Any]:
    """{auroc, auroc_ci, n, n_patients, ...} of `predicted` (one rating per test nodule) for malignant vs benign."""
    labels = np.asarray(samples.labels)
    keep = np.isin(labels, ("benign", "malignant"))
    out: dict[str, Any] = {"what": "AUROC of the predicted rating, malignant (median > 3) vs benign (median < 3); "
                           "indeterminate nodules left out", "n": int(keep.sum()), "n_patients": int(len(set(units[keep])))}  # fmt: skip
    y = (labels[keep] == "malignant").astype(np.float64)
    if len(set(y.tolist())) < 2:
        return {**out, "auroc": None, "auroc_ci": None, "reason": "the test nodules hold one of the two labels only"}
    report = evaluate_outputs(y, np.asarray(predicted)[keep], ["malignant"], "binary", units=units[keep], unit="patients",
                              n_boot=n_boot, seed=seed)  # fmt: skip
    return {**out, "auroc": report.overall["roc_auc"], "auroc_ci": report.ci.get("overall.roc_auc"), "auprc": report.overall["prc_auc"]}


__all__ = ["rating_auroc"]
