"""SMILES training on the task hooks: masked multi-task loss, target scaling round trip, quick and overfit runs on real molecules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from medrnn.data.sampling import LengthBucketSampler
from medrnn.data.splits import Split
from medrnn.errors import ConfigError
from medrnn.io.smiles import read_smiles_csv
from medrnn.models import create_model
from medrnn.tasks.base import TaskData, get_task
from medrnn.tasks.molecules.config import SmilesRunConfig
from medrnn.tasks.molecules.data import Molecules, SmilesDataset, collate_tokens
from medrnn.tasks.molecules.predict import predict_smiles
from medrnn.train.losses import masked_loss
from medrnn.transforms.smiles import Vocabulary, tokenize
from medrnn.transforms.standardize import Standardizer


def test_masked_loss_ignores_missing_labels() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    y = torch.tensor([[1.0, float("nan")], [float("nan"), 0.0]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor([2.0, 3.0]), torch.tensor([1.0, 0.0]))
    assert torch.isclose(masked_loss(logits, y, "classification"), expected)
    # the missing cells' logits get no gradient: changing them changes nothing
    moved = logits.clone()
    moved[0, 1], moved[1, 0] = 100.0, -100.0
    assert torch.isclose(masked_loss(moved, y, "classification"), expected)
    leaf = logits.clone().requires_grad_()
    masked_loss(leaf, y, "classification").backward()
    assert leaf.grad[0, 1] == 0 and leaf.grad[1, 0] == 0 and leaf.grad[0, 0] != 0
    assert torch.isclose(masked_loss(logits, y, "regression"), ((2.0 - 1.0) ** 2 + 3.0**2) / 2 * torch.ones(()))
    empty = torch.full_like(y, float("nan"))
    assert masked_loss(logits, empty, "classification") == 0


def test_masked_loss_checks_shapes_and_task_type() -> None:
    with pytest.raises(ConfigError, match="one output per task"):
        masked_loss(torch.zeros(2, 3), torch.zeros(2, 2), "classification")
    with pytest.raises(ConfigError, match="valid: classification, regression"):
        masked_loss(torch.zeros(2, 2), torch.zeros(2, 2), "ranking")


def test_target_scaling_round_trip_with_missing_values() -> None:
    y = np.array([[1.0, np.nan], [3.0, 10.0], [5.0, 30.0]])
    scaler = Standardizer().fit(y)
    z = scaler.transform(y)
    assert np.allclose(np.nanmean(z, axis=0), 0, atol=1e-6) and np.isnan(z[0, 1])
    back = Standardizer.from_state(scaler.state_dict()).inverse_transform(z)
    assert np.allclose(back, y, equal_nan=True, atol=1e-5)


def test_bucket_sampler_covers_every_molecule_once_per_epoch() -> None:
    lengths = np.random.default_rng(0).integers(5, 80, 203)
    sampler = LengthBucketSampler(lengths, 16, seed=0, pool=4)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(203)) and len(batches) == len(sampler)
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < np.ptp(lengths) / 2  # batches hold similar lengths
    sampler.set_epoch(1)
    assert list(sampler) != batches


def _esol(moleculenet_dir: Path, n: int):
    table, _ = read_smiles_csv(moleculenet_dir / "delaney-processed.csv", ["measured log solubility in mols per litre"])
    return table.subset(np.arange(n))


def test_quick_one_batch_through_the_model(moleculenet_dir: Path) -> None:
    table = _esol(moleculenet_dir, 16)
    vocab = Vocabulary().fit(tokenize(s) for s in table.smiles)
    dataset = SmilesDataset(table.smiles, table.targets, vocab, augment=True, seed=0)
    batch = collate_tokens([dataset[i] for i in range(16)])
    model = create_model("gru", input_size=32, num_classes=1, vocab_size=len(vocab), embedding_dim=32, hidden_size=16,
                         bidirectional=True, attention=True)  # fmt: skip
    out = model(batch)
    assert out.logits.shape == (16, 1) and out.attention.shape == batch.x.shape
    real = out.attention * batch.mask
    assert torch.allclose(real.sum(dim=1), torch.ones(16)) and torch.all(out.attention[~batch.mask] == 0)


def _fit(table, split: Split, task_type: str, run_dir: Path, cfg: SmilesRunConfig):
    """The hooks fit_task calls, on a hand-made split (fit_task refuses one that puts a molecule on two sides)."""
    import lightning as L

    from medrnn.train.fit import fit_module
    from medrnn.train.task_module import TaskModule

    task = get_task("molecules")
    data = TaskData(Molecules(table, task_type, "random"), np.array([str(i) for i in range(len(table))]), list(table.smiles))
    pipeline = task.fit_pipeline(data, split, cfg)
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    model, _ = task.build_model(data, split, pipeline, cfg)
    train_loader, val_loader, callbacks = task.loaders(data, split, pipeline, cfg)
    module = TaskModule(model, cfg.train, pipeline.output_kind, len(pipeline.label_names))
    fit_module(module, train_loader, val_loader, cfg.train, run_dir, *module.monitor, callbacks=callbacks)
    return pipeline, task.predict(module.model.eval(), pipeline, task.subset(data, split.test))


def test_overfit_a_small_regression_set_and_keep_units(moleculenet_dir: Path, tmp_path: Path) -> None:
    torch.set_num_threads(1)  # a 32-unit LSTM is fastest on one thread, and is not slowed by a busy second core
    table = _esol(moleculenet_dir, 32)
    split = Split(np.arange(32), np.arange(32), np.arange(32))  # memorise: validate and test on the training set
    cfg = SmilesRunConfig.model_validate({
        "data": {"augment": 0, "tta": 0},
        "model": {"hidden_size": 32, "dropout": 0.0, "embedding_dim": 16, "head_hidden": 32, "attention_size": 16},
        "train": {"max_epochs": 60, "patience": 60, "lr": 1e-2, "batch_size": 32, "weight_decay": 0.0, "progress": False},
    })  # fmt: skip
    pipeline, scores = _fit(table, split, "regression", tmp_path, cfg)
    rmse = float(np.sqrt(np.mean((scores.values - table.targets) ** 2)))
    spread = float(table.targets.std())
    assert rmse < 0.25 * spread, f"did not memorise 32 molecules: RMSE {rmse:.3f} vs target std {spread:.3f}"
    assert pipeline.scaler is not None and abs(scores.values.mean() - table.targets.mean()) < 0.5  # original units (log mol/L)
    assert pipeline.output_kind == "regression" and "attention" in scores.extras


def test_predict_smiles_returns_rows_in_input_order_whatever_the_batching(moleculenet_dir: Path) -> None:
    table = _esol(moleculenet_dir, 40)
    vocab = Vocabulary().fit(tokenize(s) for s in table.smiles)
    model = create_model("lstm", input_size=8, num_classes=1, vocab_size=len(vocab), embedding_dim=8, hidden_size=8,
                         bidirectional=True, attention=True).eval()  # fmt: skip
    smiles = list(table.smiles)
    whole = predict_smiles(model, vocab, smiles, "regression", batch_size=7)
    reverse = predict_smiles(model, vocab, smiles[::-1], "regression", batch_size=40)
    one = np.concatenate([predict_smiles(model, vocab, [s], "regression").scores for s in smiles[:5]])
    assert np.allclose(whole.scores[::-1], reverse.scores, atol=1e-5) and np.allclose(whole.scores[:5], one, atol=1e-5)
    assert [len(w) for w in whole.attention] == [len(t) for t in whole.tokens]
    averaged = predict_smiles(model, vocab, smiles, "regression", tta=2, seed=1)
    assert averaged.scores.shape == whole.scores.shape and not np.allclose(averaged.scores, whole.scores)


def test_a_run_rebuilt_from_its_checkpoint_predicts_what_the_run_did(moleculenet_dir: Path, tmp_path: Path) -> None:
    """The pipeline rebuilt as fit_task built it + best.safetensors give back the trained model (recorded benchmark runs)."""
    from safetensors.torch import save_file

    from medrnn.tasks.molecules.task import rebuild_from_checkpoint
    from medrnn.train.run import fit_task

    torch.set_num_threads(1)
    lines = (moleculenet_dir / "delaney-processed.csv").read_text().splitlines()
    (tmp_path / "esol40.csv").write_text("\n".join(lines[:41]) + "\n")
    cfg = SmilesRunConfig.model_validate({
        "data": {"data": str(tmp_path / "esol40.csv"), "targets": ["measured log solubility in mols per litre"], "augment": 1,
                 "tta": 2, "split_sizes": [0.75, 0.125, 0.125]},
        "model": {"hidden_size": 16, "embedding_dim": 8, "head_hidden": 16, "attention_size": 8},
        "train": {"max_epochs": 2, "batch_size": 8, "progress": False, "seed": 5},
    })  # fmt: skip
    fit = fit_task("smiles", cfg, tmp_path / "run")
    model, pipeline = rebuild_from_checkpoint(fit.data, fit.split, cfg, tmp_path / "run" / "checkpoints" / "best.safetensors")
    assert pipeline.state_dict() == fit.pipeline.state_dict()
    test = fit.task.predict(model, pipeline, fit.task.subset(fit.data, fit.split.test))
    np.testing.assert_allclose(test.values, fit.test_scores.values, rtol=0, atol=1e-6)
    save_file({"other.weight": torch.zeros(1)}, tmp_path / "bad.safetensors")
    with pytest.raises(ConfigError, match="bad.safetensors: no 'model"):
        rebuild_from_checkpoint(fit.data, fit.split, cfg, tmp_path / "bad.safetensors")
