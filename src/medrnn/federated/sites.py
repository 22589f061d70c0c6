"""Sites: which of a task's samples each participant holds, their size and label balance (non-IID is the point).

A task declares its partitions in `Task.site_partitions` (name -> function giving each sample's site); the split into
train / validation / test is the task's own and is made first: every site trains on its part of the training samples,
validates on its part of the validation samples, and the test samples stay one common test set for every model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medrnn.errors import ConfigError
from medrnn.tasks.base import Pipeline, Task, TaskData


@dataclass(frozen=True)
class Site:
    """One participant: its name and the positions (into TaskData) of its training and validation samples."""

    name: str
    train: np.ndarray  # (n_train,) int64 positions
    val: np.ndarray  # (n_val,) int64 positions
    labels: dict[str, Any] = field(default_factory=dict)  # label balance of its training samples (`label_balance`)

    def describe(self) -> dict[str, Any]:
        """Size and label balance, JSON-ready (metrics.json federated.sites)."""
        return {"name": self.name, "n_train": int(len(self.train)), "n_val": int(len(self.val)), "labels": self.labels}


def check_partition(task: Task, by: str) -> None:
    """Refuse a partition the task does not declare (before any data is read), listing the ones it does."""
    partitions = getattr(task, "site_partitions", {})
    if by not in partitions:
        known = ", ".join(sorted(partitions)) or "none (the task declares no site partition: Task.site_partitions)"
        raise ConfigError(f"task {task.name!r}: no site partition {by!r}; available: {known}")


def site_of_samples(task: Task, data: TaskData, by: str) -> np.ndarray:
    """(n,) site name of every sample under the task's partition `by`; an unknown partition lists the task's ones."""
    check_partition(task, by)
    sites = np.asarray(task.site_partitions[by](data)).astype(str)
    if sites.shape != (len(data),):
        raise ConfigError(f"task {task.name!r}: site partition {by!r} gave {sites.shape[0]} sites for {len(data)} samples")
    return sites


def partition(task: Task, data: TaskData, split: Any, by: str, pipeline: Pipeline, min_train: int = 1) -> tuple[list[Site], dict[str, int]]:
    """Sites of the split's training and validation samples under partition `by`, sorted by name, with their label balance.

    Returns (sites, left out: {site name: training samples} for sites with fewer than `min_train`). The test samples are
    not partitioned: every model is judged on the same test set.
    """
    where = site_of_samples(task, data, by)
    train, val = np.asarray(split.train, dtype=np.int64), np.asarray(split.val, dtype=np.int64)
    sites, left_out = [], {}
    for name in sorted(set(where[train].tolist())):
        site_train, site_val = train[where[train] == name], val[where[val] == name]
        if len(site_train) < min_train:
            left_out[name] = int(len(site_train))
            continue
        y = task.targets(data, site_train, pipeline)
        sites.append(Site(name, site_train, site_val, label_balance(y, pipeline, where=f"site {name}")))
    if len(sites) < 2:
        raise ConfigError(f"task {task.name!r}, partition {by!r}: {len(sites)} site(s) with at least {min_train} training samples; "
                          "federated training needs two or more")  # fmt: skip
    return sites, left_out


def unknown_labels(y: np.ndarray, site_labels: list[str], output_kind: str, server_labels: list[str] | None = None) -> list[str]:
    """Labels a site holds (targets `y` under its label names `site_labels`) that the server's task (`server_labels`, default
    the same names) does not know, as readable strings ([] if none): unknown names, class indices or non-0/1 values."""
    known = set(site_labels if server_labels is None else server_labels)
    y = np.asarray(y)
    if output_kind == "multiclass":
        present = sorted({int(v) for v in y.reshape(-1)})
        return [f"class index {v}" if not 0 <= v < len(site_labels) else site_labels[v] for v in present
                if not 0 <= v < len(site_labels) or site_labels[v] not in known]  # fmt: skip
    y = y.astype(np.float64).reshape(len(y), -1)
    if y.shape[1] != len(site_labels):
        return [f"{y.shape[1]} label columns for {len(site_labels)} label names"]
    out = []
    for j, name in enumerate(site_labels):
        labelled = y[~np.isnan(y[:, j]), j]
        if len(labelled) and name not in known:
            out.append(name)
        elif output_kind == "regression":
            out += ["non-finite " + name] if np.isinf(labelled).any() else []
        else:
            out += [f"{name}={v:g}" for v in np.unique(labelled) if v not in (0.0, 1.0)]
    return out


def check_site_labels(site: str, y: np.ndarray, site_labels: list[str], output_kind: str, server_labels: list[str] | None = None) -> None:
    """Refuse a site whose labels the server's task does not know, naming them (ConfigError)."""
    bad = unknown_labels(y, site_labels, output_kind, server_labels)
    if bad:
        names = ", ".join(site_labels if server_labels is None else server_labels)
        known = names if output_kind in ("multiclass", "regression") else f"{names}, each 0/1"
        raise ConfigError(f"site {site}: labels {', '.join(bad)} are not known to the server's task (it knows {known}); "
                          "map them to the task's labels or leave those samples out")  # fmt: skip


def label_balance(y: np.ndarray, pipeline: Pipeline, where: str = "site") -> dict[str, Any]:
    """Counts per class (multiclass), positives / negatives / missing per label (binary, multilabel), or n and mean (regression)."""
    names, kind = list(pipeline.label_names), pipeline.output_kind
    check_site_labels(where.removeprefix("site "), y, names, kind)
    if kind == "multiclass":
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(names))
        return {name: int(c) for name, c in zip(names, counts)}
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    if kind == "regression":
        return {name: {"n": int((~np.isnan(y[:, j])).sum()), "mean": float(np.nanmean(y[:, j])) if len(y) else float("nan")}
                for j, name in enumerate(names)}  # fmt: skip
    out = {}
    for j, name in enumerate(names):
        pos, neg = int((y[:, j] == 1).sum()), int((y[:, j] == 0).sum())
        out[name] = {"positive": pos, "negative": neg, "missing": int(np.isnan(y[:, j]).sum()),
                     "positive_rate": round(pos / max(pos + neg, 1), 4)}  # fmt: skip
    return out
