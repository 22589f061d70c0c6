"""Training on small real beats: quick (one short run), overfit one batch, same seed -> same result, L1/optimisers."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from medrnn.config import TrainConfig
from medrnn.data.batch import BeatDataset, collate
from medrnn.models import create_model
from medrnn.tasks.ecg_beats.predict import predict_proba
from medrnn.tasks.ecg_beats.config import BeatDataConfig
from medrnn.tasks.ecg_beats.data import load_beats
from medrnn.data.loaders import class_weights, make_loader
from medrnn.train.fit import fit_module
from medrnn.train.task_module import TaskModule
from medrnn.transforms import Standardizer


@pytest.fixture(scope="module")
def small_beats(mitdb_dir: Path):
    """64 real beats of each of N, S, V from records 209 (many S) and 119 (many V)."""
    beats, errors = load_beats(["119", "209"], BeatDataConfig(), data_dir=mitdb_dir, cache=False)
    assert not errors
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(beats.y == c), 64, replace=False) for c in (0, 1, 2)])
    sub = beats.subset(np.sort(pick))
    static = Standardizer().fit(sub.rr).transform(sub.rr)
    return sub, static


def _config(**kw) -> TrainConfig:
    base = dict(max_epochs=2, batch_size=64, progress=False, patience=50, accelerator="cpu", devices=1)
    return TrainConfig(**{**base, **kw})


def _fit(small_beats, tmp_path: Path, config: TrainConfig, name: str = "lstm"):
    beats, static = small_beats
    L.seed_everything(config.seed, verbose=False)  # weights are initialised here, before fit seeds the loaders
    model = create_model(name, input_size=1, num_classes=5, hidden_size=16, num_static=static.shape[1])
    ds = BeatDataset(beats.x, static, beats.y)
    L.seed_everything(config.seed, workers=True, verbose=False)
    weights = torch.as_tensor(class_weights(beats.y, 5, config.class_weighting), dtype=torch.float32)
    module = TaskModule(model, config, "multiclass", 5, class_weights=weights)
    return fit_module(module, make_loader(ds, config, True), make_loader(ds, config, False), config, tmp_path, *module.monitor)


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_quick_fit_runs_with_each_optimiser(small_beats, tmp_path: Path, optimizer: str) -> None:
    result = _fit(small_beats, tmp_path, _config(optimizer=optimizer, max_epochs=1, l1=1e-5, weight_decay=1e-4))
    best = Path(result.best_checkpoint)
    assert best.suffix == ".safetensors" and best.exists()  # never a pickle
    saved = load_file(best)
    assert all(torch.equal(saved[k], v) for k, v in result.module.state_dict().items())
    assert np.isfinite(result.best_score)


def test_overfit_one_batch(small_beats, tmp_path: Path) -> None:
    beats, static = small_beats
    one = np.concatenate([np.flatnonzero(beats.y == c)[:16] for c in (0, 1, 2)])  # one batch: 16 beats each of N, S, V
    beats, static = beats.subset(one), static[one]
    result = _fit((beats, static), tmp_path, _config(max_epochs=60, batch_size=48, lr=1e-2, monitor="val_loss", class_weighting="none"))
    probs, _ = predict_proba(result.module.model, beats.x, static)
    assert (probs.argmax(1) == beats.y).mean() >= 0.98


def test_same_seed_same_model(small_beats, tmp_path: Path) -> None:
    beats, static = small_beats
    runs = [_fit(small_beats, tmp_path / str(i), _config(seed=7)) for i in range(2)]
    p = [predict_proba(r.module.model, beats.x, static)[0] for r in runs]
    assert np.array_equal(p[0], p[1])
    other = _fit(small_beats, tmp_path / "other", _config(seed=8))
    assert not np.array_equal(p[0], predict_proba(other.module.model, beats.x, static)[0])


def test_class_weights_balance_and_cap() -> None:
    y = np.array([0] * 1000 + [1] * 10 + [2] * 1)
    none, bal, sqrt = (class_weights(y, 4, m) for m in ("none", "balanced", "sqrt"))
    assert none.tolist() == [1, 1, 1, 1]
    assert bal[1] / bal[0] == pytest.approx(100)  # inverse frequency
    assert bal[2] / bal[0] == pytest.approx(100)  # capped: 1000:1 would swamp the loss
    assert sqrt[1] / sqrt[0] == pytest.approx(10)
    assert bal[3] == 1  # absent class untouched


def test_l1_penalty_is_added_to_the_loss(small_beats) -> None:
    beats, static = small_beats
    batch = collate([BeatDataset(beats.x, static, beats.y)[i] for i in range(8)])
    model = create_model("rnn", input_size=1, num_classes=5, hidden_size=8, num_static=static.shape[1]).eval()  # no dropout noise
    plain = TaskModule(model, _config(augment=False), "multiclass", 5).training_step(batch, 0)
    penalised = TaskModule(model, _config(l1=1e-3, augment=False), "multiclass", 5).training_step(batch, 0)
    weights = sum(p.abs().sum() for p in model.parameters() if p.ndim > 1)
    assert penalised.item() == pytest.approx(plain.item() + 1e-3 * weights.item(), rel=1e-4)


def test_plateau_schedule_lowers_the_learning_rate_when_validation_stalls(small_beats, tmp_path: Path) -> None:
    """lr_schedule=plateau: Lightning steps ReduceLROnPlateau on the monitored metric after every validation."""
    config = _config(max_epochs=4, lr_schedule="plateau", lr_patience=1, lr_factor=0.5, monitor="val_loss")
    result = _fit(small_beats, tmp_path, config)
    (scheduler_config,) = result.module.trainer.lr_scheduler_configs
    scheduler = scheduler_config.scheduler
    assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and scheduler_config.monitor == "val_loss"
    assert scheduler.last_epoch == 4 and scheduler.best == pytest.approx(result.best_score, rel=1e-5)  # stepped every epoch
    optimizer = scheduler.optimizer
    for _ in range(2):  # two more epochs without improvement: the rate halves
        scheduler.step(scheduler.best + 1.0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(config.lr * 0.5)
    assert not _fit(small_beats, tmp_path / "plain", _config(max_epochs=1)).module.trainer.lr_scheduler_configs
