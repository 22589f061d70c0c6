"""Prototypical scorer and the fine-tuned head on a tiny real episode (SIDER, small biLSTM): finite scores, learning runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from medrnn.fewshot.config import FewShotMoleculeConfig
from medrnn.fewshot.finetune import head_scores, pretrain_multitask
from medrnn.fewshot.molecules import MoleculeFewShot
from medrnn.fewshot.protonet import encode_items, meta_train, prototype_logits
from medrnn.fewshot.scoring import episode_auc, summarise

TINY = {"hidden_size": 8, "embedding_dim": 8, "attention_size": 4, "head_hidden": 8}


@pytest.fixture(scope="module")
def run(moleculenet_dir: Path) -> MoleculeFewShot:
    return MoleculeFewShot(FewShotMoleculeConfig(data="sider", k=[1, 5], episodes=2, max_query=40, model=TINY))


def test_prototype_scores_finite_on_a_real_episode(run: MoleculeFewShot) -> None:
    ep = run.episodes[5][0]
    model = run._model(1)
    support = encode_items(model, run.batch_of, ep.support)
    query = encode_items(model, run.batch_of, ep.query)
    logits = prototype_logits(support, torch.as_tensor(ep.support_y), query)
    assert logits.shape == (len(ep.query),) and torch.isfinite(logits).all()
    assert 0.0 <= episode_auc(ep.query_y, logits.numpy()) <= 1.0


def test_prototype_logits_favour_the_nearer_prototype() -> None:
    support = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logits = prototype_logits(support, torch.tensor([1.0, 0.0]), torch.tensor([[0.9, 0.0], [0.1, 0.0]]))
    assert logits[0] > 0 > logits[1]


def test_meta_training_and_multitask_pretraining_run(run: MoleculeFewShot) -> None:
    model = run._model(1)
    info = meta_train(model, run.batch_of, run.sampler, [1], steps=2, max_query=16, lengths=run.dataset.lengths)
    assert np.isfinite(info["final_loss"])
    cols = [run.table.target_names.index(t) for t in run.sampler.train_tasks]
    mt = run._model(len(cols))
    index = np.flatnonzero(run.dataset.lengths < 40)[:64]  # short molecules: a seconds-long epoch
    pre = pretrain_multitask(mt, lambda i: run.batch_of(index[i]), run.table.targets[index][:, cols], epochs=1, batch_size=32)
    assert np.isfinite(pre["loss_per_epoch"][0])


def test_new_head_scores_finite(run: MoleculeFewShot) -> None:
    ep = run.episodes[1][0]
    model = run._model(1)
    support, query = (encode_items(model, run.batch_of, i, run.dataset.lengths).numpy() for i in (ep.support, ep.query))
    s = head_scores(support, ep.support_y, query)
    assert s.shape == (len(ep.query),) and np.isfinite(s).all()


def test_summary_has_mean_and_interval() -> None:
    out = summarise([0.6, 0.7, 0.8, 0.9], ["a", "a", "b", "b"], n_boot=200)
    assert out["roc_auc"] == 0.75 and out["ci"][0] < 0.75 < out["ci"][1] and out["per_task"] == {"a": 0.65, "b": 0.85}


def test_random_forest_floor_scores_finite(run: MoleculeFewShot) -> None:
    from medrnn.fewshot.molecules import ecfp4, rf_scorer

    ep = run.episodes[5][0]
    scores = rf_scorer(ecfp4(list(run.table.smiles)), seed=0)(ep)
    assert scores.shape == (len(ep.query),) and np.isfinite(scores).all()
