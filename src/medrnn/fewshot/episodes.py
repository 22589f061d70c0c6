"""Episodes of few-shot learning: a support set of k positives and k negatives of one task, the rest of its labels as queries.

A "task" is one label column (a Tox21 assay, a SIDER organ class). Meta-training draws only from the training tasks,
meta-testing only from the held-out ones; the two lists are checked disjoint when the sampler is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medrnn.errors import ConfigError


@dataclass(frozen=True)
class Episode:
    """One episode: item positions of the support set and the queries of one task, with their 0/1 labels."""

    task: str
    support: np.ndarray  # (2k,) int64 item positions, positives first
    support_y: np.ndarray  # (2k,) float32 0/1
    query: np.ndarray  # (n_query,) int64 item positions, none of them in `support`
    query_y: np.ndarray  # (n_query,) float32 0/1


def last_tasks_held_out(task_names: Sequence[str], n_test: int) -> tuple[list[str], list[str]]:
    """(training tasks, held-out tasks): the last `n_test` columns are held out, as Altae-Tran et al. 2017 (DeepChem's
    TaskSplitter, last fold) did: Tox21 first 9 / last 3, SIDER first 21 / last 6."""
    names = list(task_names)
    if not 0 < n_test < len(names):
        raise ConfigError(f"n_test_tasks={n_test}: must be between 1 and {len(names) - 1} for {len(names)} tasks")
    return names[:-n_test], names[-n_test:]


class EpisodeSampler:
    """Draws episodes from a label matrix (n_items, n_tasks), NaN = unlabelled, keeping training and held-out tasks apart."""

    def __init__(self, labels: np.ndarray, task_names: Sequence[str], train_tasks: Sequence[str], test_tasks: Sequence[str]) -> None:
        self.labels = np.asarray(labels, dtype=np.float64)
        self.task_names = list(task_names)
        if self.labels.ndim != 2 or self.labels.shape[1] != len(self.task_names):
            raise ConfigError(f"labels have shape {self.labels.shape}; expected (items, {len(self.task_names)}), one column per task "
                              f"of {self.task_names}")  # fmt: skip
        unknown = [t for t in (*train_tasks, *test_tasks) if t not in self.task_names]
        if unknown:
            raise ConfigError(f"tasks {unknown} are not label columns; columns: {self.task_names}")
        both = sorted(set(train_tasks) & set(test_tasks))
        if both:
            raise ConfigError(f"tasks {both} are both meta-training and meta-test tasks; each task belongs to one side")
        self.train_tasks, self.test_tasks = list(train_tasks), list(test_tasks)

    def counts(self, task: str) -> tuple[int, int]:
        """(positives, negatives) labelled for `task`."""
        y = self.labels[:, self.task_names.index(task)]
        return int(np.sum(y == 1)), int(np.sum(y == 0))

    def check_k(self, k: int, tasks: Sequence[str]) -> None:
        """Raise when some task has fewer than k positives or k negatives (plus one query of each class)."""
        if k < 1:
            raise ConfigError(f"k={k}: the support set needs at least 1 positive and 1 negative (k >= 1)")
        short = {t: self.counts(t) for t in tasks if min(self.counts(t)) < k + 1}
        if short:
            raise ConfigError(f"k={k}: tasks {short} have fewer than k+1 (positives, negatives); choose a smaller k")

    def episode(self, task: str, k: int, rng: np.random.Generator, max_query: int | None = None) -> Episode:
        """An episode of `task`: k positives and k negatives drawn without replacement as support, the task's other
        labelled items as queries (a random `max_query` of them when given)."""
        y = self.labels[:, self.task_names.index(task)]
        pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        if min(len(pos), len(neg)) < k + 1:
            raise ConfigError(f"task {task!r}: {len(pos)} positives, {len(neg)} negatives; k={k} needs k+1 of each")
        support = np.concatenate([rng.choice(pos, k, replace=False), rng.choice(neg, k, replace=False)]).astype(np.int64)
        rest = np.setdiff1d(np.concatenate([pos, neg]), support)  # sorted, disjoint from the support by construction
        if max_query is not None and max_query < len(rest):
            rest = np.sort(rng.choice(rest, max_query, replace=False))
        return Episode(task, support, y[support].astype(np.float32), rest.astype(np.int64), y[rest].astype(np.float32))

    def meta_train_episode(self, k: int, rng: np.random.Generator, max_query: int | None = 128) -> Episode:
        """An episode of a training task drawn at random (never a held-out task)."""
        return self.episode(self.train_tasks[int(rng.integers(len(self.train_tasks)))], k, rng, max_query)

    def meta_test_episodes(self, k: int, n_episodes: int, seed: int, max_query: int | None = None) -> list[Episode]:
        """`n_episodes` episodes per held-out task, seeded by (seed, task, k) so every method sees the same ones."""
        self.check_k(k, self.test_tasks)
        out = []
        for t, task in enumerate(self.test_tasks):
            rng = np.random.default_rng([seed, t, k])
            out += [self.episode(task, k, rng, max_query) for _ in range(n_episodes)]
        return out
