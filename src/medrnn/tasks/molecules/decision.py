"""What a molecule prediction says beside its probability: the predicted class (a threshold tuned on validation), how
close the molecule is to the training set, and the tokens the model has never seen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medrnn.tasks.molecules.domain import Domain


def balanced_threshold(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The threshold maximising the mean balanced accuracy ((TPR + TNR) / 2) over labels, on labelled entries of `y`
    (NaN = missing); candidates are the scores' percentiles and 0.5; ties go to the one nearest 0.5."""
    y = np.asarray(y, dtype=np.float64).reshape(scores.shape)
    known = ~np.isnan(y)
    usable = [k for k in range(y.shape[1]) if len(np.unique(y[known[:, k], k])) == 2]
    if not usable:
        return 0.5, float("nan")
    candidates = np.unique(np.concatenate([np.percentile(scores[known], np.linspace(1, 99, 99)), [0.5]]))
    best, best_value = 0.5, -1.0
    for t in candidates:
        values = []
        for k in usable:
            truth, called = y[known[:, k], k] == 1, scores[known[:, k], k] >= t
            values.append(0.5 * (called[truth].mean() + (~called[~truth]).mean()))
        value = float(np.mean(values))
        if value > best_value + 1e-12 or (abs(value - best_value) <= 1e-12 and abs(t - 0.5) < abs(best - 0.5)):
            best, best_value = float(t), value
    return best, best_value


def oov_tokens(tokens: Sequence[Sequence[str]], known: dict[str, int]) -> list[str]:
    """Per molecule, its tokens outside the vocabulary (mapped to <unk> by the model), space-joined ('' when none)."""
    return [" ".join(t for t in mol if t not in known) for mol in tokens]


def domain_fields(domain: Domain | None, smiles: Sequence[str]) -> list[dict[str, Any]]:
    """Per molecule: nn_similarity (Tanimoto to the nearest training molecule) and in_domain (>= the cut-off)."""
    if domain is None:
        return [{} for _ in smiles]
    nearest = domain.nearest(list(smiles))
    return [{"nn_similarity": round(float(s), 4), "in_domain": bool(s >= domain.cutoff)} for s in nearest]


def domain_report(domain: Domain, smiles: Sequence[str], y: np.ndarray, scores: np.ndarray, metric: Any) -> dict[str, Any]:
    """Test molecules inside and outside the domain: their count and the headline metric on each part."""
    inside = domain.nearest(list(smiles)) >= domain.cutoff
    out: dict[str, Any] = {"cutoff": domain.cutoff, "fingerprint": "ECFP4 2048 bits", "n_in_domain": int(inside.sum()),
                           "n_out_of_domain": int((~inside).sum())}  # fmt: skip
    for name, part in (("in_domain", inside), ("out_of_domain", ~inside)):
        try:
            out[f"{name}_metric"] = float(metric(y[part], scores[part])) if part.sum() >= 2 else None
        except ValueError:  # one class only in that part
            out[f"{name}_metric"] = None
    return out


def part_metric(task_type: str) -> Any:
    """ROC-AUC averaged over labels (classification) or RMSE (regression), on labelled entries; ValueError if undefined."""

    def roc_auc(y: np.ndarray, s: np.ndarray) -> float:
        from sklearn.metrics import roc_auc_score

        values = []
        for k in range(s.shape[1]):
            known = ~np.isnan(y[:, k])
            if len(np.unique(y[known, k])) == 2:
                values.append(roc_auc_score(y[known, k], s[known, k]))
        if not values:
            raise ValueError("no label with both classes")
        return float(np.mean(values))

    def rmse(y: np.ndarray, s: np.ndarray) -> float:
        known = ~np.isnan(y)
        return float(np.sqrt(np.mean((y[known] - s[known]) ** 2)))

    return roc_auc if task_type == "classification" else rmse
