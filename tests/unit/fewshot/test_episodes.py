"""Episode sampler on real SIDER and Tox21 labels: support and queries disjoint, held-out tasks never meta-trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medrnn.errors import ConfigError
from medrnn.fewshot.config import FewShotMoleculeConfig
from medrnn.fewshot.episodes import EpisodeSampler, last_tasks_held_out
from medrnn.fewshot.molecules import load_molecules


@pytest.fixture(scope="module")
def sider(moleculenet_dir: Path) -> EpisodeSampler:
    return load_molecules(FewShotMoleculeConfig(data="sider", k=[1, 5, 10]))[1]


def test_paper_split_sider_21_train_6_test(sider: EpisodeSampler) -> None:
    assert len(sider.train_tasks) == 21 and len(sider.test_tasks) == 6
    assert sider.test_tasks[-1] == "Injury, poisoning and procedural complications"


def test_paper_split_tox21_9_train_3_test(moleculenet_dir: Path) -> None:
    _, sampler = load_molecules(FewShotMoleculeConfig(data="tox21", k=[1]))
    assert sampler.train_tasks[-1] == "SR-ATAD5" and sampler.test_tasks == ["SR-HSE", "SR-MMP", "SR-p53"]


@pytest.mark.parametrize("k", [1, 5, 10])
def test_query_never_in_support(sider: EpisodeSampler, k: int) -> None:
    for ep in sider.meta_test_episodes(k, n_episodes=10, seed=3):
        assert not set(ep.support.tolist()) & set(ep.query.tolist())
        assert ep.support_y.tolist() == [1.0] * k + [0.0] * k
        y = sider.labels[:, sider.task_names.index(ep.task)]
        # the queries are every other labelled molecule of the task
        assert len(ep.query) + 2 * k == int(np.sum(~np.isnan(y)))
        assert np.array_equal(ep.query_y, y[ep.query])


def test_meta_training_never_draws_a_held_out_task(sider: EpisodeSampler) -> None:
    rng = np.random.default_rng(0)
    drawn = {sider.meta_train_episode(k, rng).task for k in (1, 5, 10) for _ in range(300)}
    assert drawn <= set(sider.train_tasks)
    assert not drawn & set(sider.test_tasks)
    assert len(drawn) > 15  # it does draw across the training tasks
    assert {ep.task for ep in sider.meta_test_episodes(1, 2, seed=0)} == set(sider.test_tasks)


def test_meta_train_queries_capped_and_disjoint(sider: EpisodeSampler) -> None:
    ep = sider.meta_train_episode(5, np.random.default_rng(1), max_query=128)
    assert len(ep.query) == 128 and not set(ep.support.tolist()) & set(ep.query.tolist())


def test_same_seed_same_episodes(sider: EpisodeSampler) -> None:
    a, b = sider.meta_test_episodes(5, 3, seed=7), sider.meta_test_episodes(5, 3, seed=7)
    assert all(np.array_equal(x.support, y.support) for x, y in zip(a, b))


def test_overlapping_task_lists_refused(sider: EpisodeSampler) -> None:
    with pytest.raises(ConfigError, match="both meta-training and meta-test"):
        EpisodeSampler(sider.labels, sider.task_names, sider.train_tasks, [sider.train_tasks[0]])


def test_k_too_large_names_the_tasks(sider: EpisodeSampler) -> None:
    with pytest.raises(ConfigError, match="k=5000"):
        sider.check_k(5000, sider.test_tasks)


def test_held_out_count_checked() -> None:
    with pytest.raises(ConfigError, match="n_test_tasks=12"):
        last_tasks_held_out([f"t{i}" for i in range(12)], 12)
