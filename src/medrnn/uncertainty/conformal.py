"""Split-conformal prediction sets (classification) and intervals (regression), calibrated on the validation split.

The sorted validation nonconformity scores are stored (float32 precision), so any coverage 1 - alpha can be asked at
predict time: the threshold is the ceil((n + 1)(1 - alpha))-th smallest of the n scores of a group. Guarantees, under
exchangeability of validation and new samples (same population, same shift or none):

- multiclass and binary (binary as the two classes "not <label>" and "<label>"): score 1 - p(true class) (LAC);
  the set holds every class c with 1 - p_c <= q_c. Marginal: P(true class in set) >= 1 - alpha. Class-conditional
  (Mondrian) when a class is rare: each class with >= `min_group` validation samples gets its own q_c, so
  P(true in set | true class = c) >= 1 - alpha for it; the rarer classes share one pooled group (the guarantee is then
  for a sample whose true class is one of the pooled ones; when that pooled group holds too few scores for the coverage
  asked, its classes are always in the set, which keeps the guarantee).
- multilabel: per label, for the positive class only (a recall-type guarantee): label k is in the set when
  p_k >= 1 - q_k with q_k from the validation positives of k, so P(k in set | k is a true label) >= 1 - alpha.
  Labels with fewer than `min_group` validation positives share one pooled group. Nothing is said about false labels.
- regression: per output, |y - y_hat| on validation; the interval y_hat +- q holds y with probability >= 1 - alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from medrnn.errors import ConfigError, ShapeError

TOL = 1e-6  # scores are stored at float32 precision


def check_coverage(coverage: Any) -> float:
    """A coverage strictly between 0 and 1, else a ConfigError saying what is expected."""
    try:
        value = float(coverage)
    except (TypeError, ValueError):
        raise ConfigError(f"--coverage {coverage!r}: expected a number strictly between 0 and 1, e.g. 0.9 for 90 %") from None
    if not 0 < value < 1 or math.isnan(value):
        raise ConfigError(f"--coverage {coverage!r}: expected a number strictly between 0 and 1, e.g. 0.9 for 90 % "
                          "(a percentage like 90 is not accepted)")  # fmt: skip
    return value


def conformal_quantile(sorted_scores: np.ndarray, coverage: float, group: str = "") -> float:
    """The ceil((n + 1) coverage)-th smallest score; refused when n validation scores cannot give that coverage."""
    n = len(sorted_scores)
    k = math.ceil((n + 1) * coverage - 1e-9)
    if k > n:
        need = math.ceil(coverage / (1 - coverage) - 1e-9)
        best = n / (n + 1) if n else 0.0
        raise ConfigError(f"--coverage {coverage:g}: needs at least {need} validation scores per group, but group {group or 'all'} has "
                          f"{n} (at most {best:.3f} can be given); ask for less coverage, or retrain with a larger "
                          "validation split")  # fmt: skip
    return float(sorted_scores[k - 1])


@dataclass
class ConformalOutput:
    """Per-sample sets or intervals at one coverage: `member` (n, names) bool for sets, `lower`/`upper` (n, outputs) for intervals."""

    kind: str  # "classes" (multiclass, binary), "labels" (multilabel), "interval" (regression)
    names: list[str]
    coverage: float
    member: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None

    def __len__(self) -> int:
        return int((self.member if self.member is not None else self.lower).shape[0])


def _sorted(scores: np.ndarray) -> list[float]:
    return [float(v) for v in np.sort(np.asarray(scores, dtype=np.float32))]


class SplitConformal:
    """Validation nonconformity scores by group; `predict(values, coverage)` gives sets or intervals for new scores.

    `class_conditional`: True, False or "auto" (on when a class (or label) holds under `rare_share` of the validation
    samples, e.g. SVEB beats). Groups smaller than `min_group` are pooled.
    """

    def __init__(self, output_kind: str, names: list[str], class_conditional: bool | str = "auto", rare_share: float = 0.2,
                 min_group: int = 30) -> None:  # fmt: skip
        self.output_kind, self.names = output_kind, list(names)
        self.class_conditional, self.rare_share, self.min_group = class_conditional, rare_share, min_group
        self.groups_: list[list[float]] = []  # sorted scores per group
        self.group_of_: list[int] = []  # per class / label / output: its group
        self.group_names_: list[str] = []  # what each group holds, for messages
        self.mondrian_: bool = False

    @property
    def kind(self) -> str:
        """classes, labels or interval."""
        return {"multiclass": "classes", "binary": "classes", "multilabel": "labels"}.get(self.output_kind, "interval")

    @property
    def set_names(self) -> list[str]:
        """The names a set is made of (binary: "not <label>", "<label>")."""
        if self.output_kind == "binary":
            return [f"not {self.names[0]}", self.names[0]]
        return list(self.names)

    def _probs(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 2:
            raise ShapeError(f"conformal: expected scores (n, outputs), got shape {v.shape}")
        return np.concatenate([1 - v, v], axis=1) if self.output_kind == "binary" else v

    def fit(self, values: np.ndarray, y: np.ndarray) -> SplitConformal:
        """Store the validation scores (calibrated probabilities, or values in target units) with their labels."""
        v = self._probs(values)
        if self.kind == "classes":
            y = np.asarray(y, dtype=np.float64).ravel()
            keep = ~np.isnan(y)
            true = y[keep].astype(np.int64)
            score = 1 - v[keep][np.arange(len(true)), true]
            per = [score[true == c] for c in range(v.shape[1])]
            share = np.array([len(s) for s in per]) / max(len(true), 1)
            self.mondrian_ = bool(self.class_conditional is True or (self.class_conditional == "auto" and share.min() < self.rare_share))
            self._group(per, score if not self.mondrian_ else None)
        elif self.kind == "labels":
            y = np.asarray(y, dtype=np.float64).reshape(v.shape)
            per = [1 - v[y[:, k] == 1, k] for k in range(v.shape[1])]  # positives of each label (NaN != 1)
            self.mondrian_ = True
            self._group(per, None)
        else:
            y = np.asarray(y, dtype=np.float64).reshape(v.shape)
            per = [np.abs(y[:, j] - v[:, j])[~np.isnan(y[:, j])] for j in range(v.shape[1])]
            self.mondrian_ = True  # one interval half-width per output, each in its own units
            self.groups_ = [_sorted(s) for s in per]
            self.group_of_, self.group_names_ = list(range(len(per))), list(self.names)
        return self

    def _group(self, per: list[np.ndarray], marginal: np.ndarray | None) -> None:
        """One group per class with >= min_group scores; the rest pooled (pooled into everything when still too small)."""
        names = self.set_names
        if marginal is not None:
            self.groups_, self.group_of_, self.group_names_ = [_sorted(marginal)], [0] * len(per), ["all (marginal)"]
            return
        big = [c for c, s in enumerate(per) if len(s) >= self.min_group]
        small = [c for c in range(len(per)) if c not in big]
        groups = [_sorted(per[c]) for c in big]
        group_names = [names[c] for c in big]
        group_of = [0] * len(per)
        for g, c in enumerate(big):
            group_of[c] = g
        if small:
            pooled = np.concatenate([per[c] for c in small])
            listed = ", ".join(names[c] for c in small[:4]) + (", ..." if len(small) > 4 else "")
            group_names.append(f"pooled rare ({listed})")
            groups.append(_sorted(pooled))
            for c in small:
                group_of[c] = len(groups) - 1
        self.groups_, self.group_of_, self.group_names_ = groups, group_of, group_names

    def _group_name(self, g: int) -> str:
        return self.group_names_[g] if g < len(self.group_names_) else str(g)

    def _rare_group(self, g: int) -> bool:
        return self.mondrian_ and self.kind != "interval" and self._group_name(g).startswith("pooled rare")

    def thresholds(self, coverage: float) -> np.ndarray:
        """Per class / label / output: its score quantile q at `coverage`.

        The pooled group of rare classes (or labels) may hold too few validation scores for the coverage asked; its
        classes are then always in the set (q = 1: the conservative answer that keeps the guarantee). Any other group
        that cannot give the coverage is refused with a ConfigError.
        """
        coverage = check_coverage(coverage)
        q = []
        for g, s in enumerate(self.groups_):
            if self._rare_group(g) and len(s) < math.ceil((len(s) + 1) * coverage - 1e-9):
                q.append(1.0)
            else:
                q.append(conformal_quantile(np.asarray(s), coverage, self._group_name(g)))
        return np.array([q[g] for g in self.group_of_], dtype=np.float64)

    def predict(self, values: np.ndarray, coverage: float) -> ConformalOutput:
        """Sets (classes, labels) or intervals (regression) for new scores at `coverage`."""
        q = self.thresholds(coverage)
        v = self._probs(values)
        if v.shape[1] != len(q):
            raise ShapeError(f"conformal: calibrated on {len(q)} outputs, got scores of shape {np.shape(values)}")
        if self.kind == "interval":
            return ConformalOutput("interval", self.names, coverage, lower=v - q, upper=v + q)
        return ConformalOutput(self.kind, self.set_names, coverage, member=(1 - v) <= q[None, :] + TOL)

    def evaluate(self, values: np.ndarray, y: np.ndarray, coverage: float = 0.9) -> dict[str, Any]:
        """Empirical coverage and mean set size (or interval width) of held-out scores with labels (test)."""
        out = self.predict(values, coverage)
        q = self.thresholds(coverage)
        always = [n for n, t in zip(out.names, q) if out.kind != "interval" and t >= 1.0]
        result: dict[str, Any] = {"coverage_target": coverage, "class_conditional": self.mondrian_,
                                  **({"always_in_set": always} if always else {})}  # fmt: skip
        if out.kind == "interval":
            y = np.asarray(y, dtype=np.float64).reshape(out.lower.shape)
            keep = ~np.isnan(y)
            inside = (y >= out.lower - TOL) & (y <= out.upper + TOL)
            result |= {"coverage": float(inside[keep].mean()) if keep.any() else None,
                       "mean_width": float(np.mean((out.upper - out.lower)[keep])),
                       "per_output": {n: {"coverage": float(inside[keep[:, j], j].mean()) if keep[:, j].any() else None,
                                          "width": float(out.upper[0, j] - out.lower[0, j]) if len(out) else None}
                                      for j, n in enumerate(self.names)}, "n": int(keep.sum())}  # fmt: skip
            return result
        m = out.member
        if out.kind == "classes":
            y = np.asarray(y, dtype=np.float64).ravel()
            keep = ~np.isnan(y)
            true = y[keep].astype(np.int64)
            hit = m[keep][np.arange(len(true)), true]
            per = {n: float(hit[true == c].mean()) for c, n in enumerate(out.names) if (true == c).any()}
            result |= {"coverage": float(hit.mean()) if hit.size else None, "mean_set_size": float(m[keep].sum(axis=1).mean()),
                       "empty_sets": float((m[keep].sum(axis=1) == 0).mean()), "per_class_coverage": per, "n": int(keep.sum())}  # fmt: skip
            return result
        y = np.asarray(y, dtype=np.float64).reshape(m.shape)
        pos = y == 1
        result |= {"coverage": float(m[pos].mean()) if pos.any() else None, "of": "true labels (recall of the sets)",
                   "mean_set_size": float(m.sum(axis=1).mean()), "n": int(pos.sum()),
                   "labels_own_group": sum(1 for g in set(self.group_of_) if self.group_of_.count(g) == 1)}  # fmt: skip
        return result

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready: output kind, names, groups of sorted validation scores."""
        return {"output_kind": self.output_kind, "names": self.names, "class_conditional": self.mondrian_, "min_group": self.min_group,
                "group_of": self.group_of_, "group_names": self.group_names_, "groups": self.groups_}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> SplitConformal:
        """Inverse of `state_dict`."""
        try:
            conf = cls(str(state["output_kind"]), list(state["names"]), bool(state["class_conditional"]), min_group=int(state["min_group"]))
            conf.mondrian_ = bool(state["class_conditional"])
            conf.group_of_ = [int(g) for g in state["group_of"]]
            conf.groups_ = [[float(v) for v in s] for s in state["groups"]]
            conf.group_names_ = [str(n) for n in state.get("group_names", [])]
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"conformal state: {type(err).__name__}: {err}; expected the fields of SplitConformal.state_dict") from err
        if conf.group_of_ and max(conf.group_of_) >= len(conf.groups_):
            raise ConfigError(f"conformal state: field 'group_of' names group {max(conf.group_of_)} of {len(conf.groups_)}")
        return conf
