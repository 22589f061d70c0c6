"""SMILES language-model pretraining: learns, excludes the target dataset's molecules, transfers, freezes, caches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from medrnn import paths
from medrnn.data.batch import make_batch
from medrnn.models import create_model
from medrnn.tasks.molecules.config import PretrainConfig, SmilesModelConfig, SmilesTrainConfig
from medrnn.tasks.molecules.pretrain import SmilesLanguageModel, corpus_smiles, load_pretrained, pretrain_encoder

TINY = SmilesModelConfig(hidden_size=16, embedding_dim=8, attention_size=8, head_hidden=8)


def _corpus(moleculenet_dir: Path, tmp_path: Path) -> tuple[PretrainConfig, list[str]]:
    lines = (moleculenet_dir / "delaney-processed.csv").read_text().splitlines()
    path = tmp_path / "corpus.csv"
    path.write_text("\n".join(lines[:301]) + "\n")
    target = ["c1ccccc1", "CCO"]  # stand-ins for the molecules of the dataset being trained
    return PretrainConfig(enabled=True, corpus=[str(path)], epochs=2, batch_size=32, lr=3e-3), target


def test_language_model_loss_ignores_padding() -> None:
    encoder = create_model("lstm", input_size=8, num_classes=1, vocab_size=12, embedding_dim=8, hidden_size=8, bidirectional=True)
    lm = SmilesLanguageModel(encoder)
    x = torch.tensor([[2, 5, 6, 7, 3, 0, 0], [2, 5, 9, 3, 0, 0, 0]])
    lengths = torch.tensor([5, 4])
    loss = lm(make_batch(x, lengths=lengths))
    junk = x.clone()
    junk[0, 5:], junk[1, 4:] = 11, 11  # what lies after each sequence's end changes nothing
    assert torch.isclose(lm(make_batch(junk, lengths=lengths)), loss) and torch.isfinite(loss)


def test_pretraining_excludes_targets_learns_transfers_and_caches(moleculenet_dir: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    config, target = _corpus(moleculenet_dir, tmp_path)
    corpus = corpus_smiles(config, exclude=target)
    assert "c1ccccc1" not in corpus and "CCO" not in corpus and len(corpus) > 250
    train_cfg = SmilesTrainConfig(progress=False)
    weights, vocab, stats = pretrain_encoder(TINY, config, target, train_cfg)
    assert stats["corpus_molecules"] == len(corpus) and stats["val_perplexity"] < len(vocab)  # better than guessing uniformly
    assert {k.split(".")[0] for k in weights} == {"embedding", "forward_layers", "backward_layers"}
    again, vocab_again, stats_again = pretrain_encoder(TINY, config, target, train_cfg)  # from the cache
    assert stats_again == stats and vocab_again.tokens_ == vocab.tokens_
    assert all(torch.equal(again[k], weights[k]) for k in weights)
    cached = set((paths.cache_dir() / "smiles_lm").iterdir())
    frozen_cfg = config.model_copy(update={"freeze": True})  # freezing acts on fine-tuning: the same LM, no second one
    shared, _, stats_frozen = pretrain_encoder(TINY, frozen_cfg, target, train_cfg)
    assert stats_frozen == stats and all(torch.equal(shared[k], weights[k]) for k in weights)
    assert set((paths.cache_dir() / "smiles_lm").iterdir()) == cached
    # the optimiser shapes the LM: another weight decay is another LM, never the cached one
    decayed, _, _ = pretrain_encoder(TINY, config, target, train_cfg.model_copy(update={"weight_decay": 0.1}))
    assert len(set((paths.cache_dir() / "smiles_lm").iterdir()) - cached) == 1
    assert not all(torch.equal(decayed[k], weights[k]) for k in weights)

    cfg = TINY.model_dump()
    name = cfg.pop("name")
    model = create_model(name, input_size=8, num_classes=2, vocab_size=len(vocab), **cfg)
    load_pretrained(model, weights, freeze=True)
    assert torch.equal(model.embedding.weight, weights["embedding.weight"])
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert "embedding.weight" in frozen and not any(n.startswith("classifier") for n in frozen)
    assert np.isfinite(stats["seconds"])


def test_fine_tuning_is_the_same_whether_the_lm_was_trained_now_or_cached(moleculenet_dir: Path, tmp_path: Path) -> None:
    """Pretraining draws random numbers; reading the LM from the cache draws none. Fine-tuning must not care."""
    from medrnn.tasks.molecules.config import SmilesRunConfig
    from medrnn.train.run import fit_task

    torch.set_num_threads(1)
    config, _ = _corpus(moleculenet_dir, tmp_path)
    lines = (moleculenet_dir / "SAMPL.csv").read_text().splitlines()
    (tmp_path / "freesolv40.csv").write_text("\n".join(lines[:41]) + "\n")  # 40 of FreeSolv's molecules
    cfg = SmilesRunConfig.model_validate({"pretrain": config.model_dump(), "model": TINY.model_dump(),
                                          "data": {"data": str(tmp_path / "freesolv40.csv"), "targets": ["expt"], "augment": 0,
                                                   "tta": 0, "split_sizes": [0.75, 0.125, 0.125]},
                                          "train": {"max_epochs": 2, "batch_size": 8, "progress": False, "seed": 3}})  # fmt: skip
    fresh = fit_task("smiles", cfg, tmp_path / "fresh")  # trains and caches the LM
    cached = fit_task("smiles", cfg, tmp_path / "cached")  # reads it back
    assert fresh.model_init == cached.model_init and fresh.model_init["pretrain"]["corpus_molecules"] > 250
    assert fresh.data.info["vocabulary"]["fitted_on"] == "the pretraining corpus"
    np.testing.assert_array_equal(fresh.test_scores.values, cached.test_scores.values)
