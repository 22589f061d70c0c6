"""The SMILES job end to end: read, split (before any fitting), vocabulary and scaler on train, fit, TTA, artifact."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from torch import nn
from torch.utils.data import DataLoader

from medrnn import paths
from medrnn.artifact import save_artifact
from medrnn.config import save_config
from medrnn.data.molecules import SmilesDataset, collate_tokens
from medrnn.data.sampling import LengthBucketSampler
from medrnn.data.splits import Split, make_split
from medrnn.errors import ConfigError
from medrnn.io.smiles import ReadReport, read_smiles_csv
from medrnn.models import create_model
from medrnn.predict import predict_smiles
from medrnn.records import MoleculeTable
from medrnn.tasks.molecules.config import SmilesRunConfig
from medrnn.tasks.molecules.spec import MOLECULENET, get_task, infer_task_type
from medrnn.train.fit import fit_module
from medrnn.train.multitask import MultiTaskModule
from medrnn.transforms.smiles import Vocabulary, randomize_smiles, tokenize
from medrnn.transforms.standardize import Standardizer

log = logging.getLogger(__name__)


@dataclass
class SmilesFitResult:
    model: nn.Module
    vocab: Vocabulary
    scaler: Standardizer | None
    task_type: str
    test_score: np.ndarray  # (n_test, n_tasks) probabilities or original units, rows = split.test
    val_score: np.ndarray
    train_seconds: float
    epochs: int
    seconds_per_epoch: float
    best_epoch: int | None
    best_val: float
    unknown_tokens: dict[str, int]  # per split: canonical tokens mapped to <unk>
    test_tokens: list[list[str]]
    test_attention: list[np.ndarray] | None
    pretrain: dict[str, float] | None = None  # corpus size, LM perplexity, seconds when the encoder was pretrained


class EpochCallback(L.Callback):
    """Tells the augmenting dataset and the bucket sampler which epoch it is (new random SMILES, new order)."""

    def __init__(self, *targets: Any) -> None:
        self.targets = targets

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for t in self.targets:
            t.set_epoch(trainer.current_epoch)


def load_table(config: SmilesRunConfig) -> tuple[MoleculeTable, ReadReport, str, str]:
    """(table, read report, task type, split kind) for a MoleculeNet name or a CSV path."""
    d = config.data
    if d.data.lower() in MOLECULENET:
        spec = get_task(d.data)
        path = paths.data_root() / spec.file
        targets = d.targets or list(spec.targets)
        column, split = d.smiles_column or spec.smiles_column, spec.split
    else:
        path, targets, column, split = Path(d.data), d.targets, d.smiles_column, "random"
        if not targets:
            raise ConfigError(f"{path}: name the target column(s) with --target COL[,COL] (data.targets)")
    if not path.exists():
        hint = "fetch it with `medrnn data fetch moleculenet`" if d.data.lower() in MOLECULENET else "check the path"
        raise ConfigError(f"{path}: file not found ({hint}; data root {paths.data_root()})")
    table, report = read_smiles_csv(path, targets, column)
    if len(table) == 0:
        raise ConfigError(f"{path}: no usable rows ({report.summary()})")
    task_type = infer_task_type(table.targets) if d.task_type == "auto" else d.task_type
    return table, report, task_type, (split if d.split == "auto" else d.split)


@dataclass
class SmilesSetup:
    """Everything fitted before training: vocabulary, target scaler, the (maybe pretrained) model, LM statistics."""

    model: nn.Module
    vocab: Vocabulary
    scaler: Standardizer | None
    pretrained: dict[str, Any] | None
    pretrain_stats: dict[str, float] | None


def prepare_smiles_model(table: MoleculeTable, split: Split, task_type: str, config: SmilesRunConfig, seed: int = 0) -> SmilesSetup:
    """Vocabulary and scaler fitted on `split.train`, the encoder pretrained (or read from the LM cache), a fresh model.

    Deterministic for a (table, split, config, seed): `fit_smiles_model` trains from it, and a benchmark rebuilds a
    trained run from it plus the run's best.safetensors (`load_smiles_checkpoint`).
    """
    train_cfg = config.train.model_copy(update={"seed": seed})
    d = config.data
    L.seed_everything(seed, workers=True, verbose=False)
    smiles = list(table.smiles)
    train_smiles = [smiles[i] for i in split.train]
    pretrained, pretrain_stats = None, None
    if config.pretrain.enabled:
        from medrnn.train.pretrain import pretrain_encoder

        # the corpus never holds a molecule of this dataset (train, validation or test): nothing to leak
        pretrained, vocab, pretrain_stats = pretrain_encoder(config.model, config.pretrain, smiles, train_cfg)
        L.seed_everything(seed, workers=True, verbose=False)  # the same fine-tuning whether the LM was trained now or cached
    else:
        # the vocabulary sees training molecules only; random SMILES of them add ring-closure digits canonical ones lack
        token_lists = [tokenize(s) for s in train_smiles]
        if d.augment:
            token_lists += [tokenize(r) for i, s in enumerate(train_smiles) for r in randomize_smiles(s, 2, seed * 31 + i)]
        vocab = Vocabulary(d.min_token_freq).fit(token_lists)
    scaler = Standardizer().fit(table.targets.astype(np.float32)[split.train]) if task_type == "regression" else None
    model_cfg = config.model.model_dump()
    name = model_cfg.pop("name")
    n_tasks = table.targets.shape[1]
    model = create_model(name, input_size=model_cfg["embedding_dim"], num_classes=n_tasks, vocab_size=len(vocab), **model_cfg)
    if pretrained is not None:
        from medrnn.train.pretrain import load_pretrained

        load_pretrained(model, pretrained, config.pretrain.freeze)
    return SmilesSetup(model, vocab, scaler, pretrained, pretrain_stats)


def load_smiles_checkpoint(setup: SmilesSetup, checkpoint: str | Path) -> nn.Module:
    """The trained model of a run: `setup`'s model with the weights `fit_smiles_model` kept in checkpoints/best.safetensors."""
    from safetensors.torch import load_file

    state = load_file(Path(checkpoint))
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    if not weights:
        raise ConfigError(f"{checkpoint}: no 'model.*' tensors; expected the best.safetensors of a SMILES training run")
    setup.model.load_state_dict(weights)
    return setup.model.eval()


def fit_smiles_model(
    table: MoleculeTable,
    split: Split,
    task_type: str,
    run_dir: Path,
    config: SmilesRunConfig | None = None,
    seed: int = 0,
    progress: bool = False,
) -> SmilesFitResult:
    """Fit vocabulary, target scaler and model on `split.train` (validation picks the epoch); score `split.test`."""
    config = config or SmilesRunConfig()
    train_cfg = config.train.model_copy(update={"seed": seed, "progress": progress})
    d = config.data
    setup = prepare_smiles_model(table, split, task_type, config, seed)
    vocab, scaler, model, pretrain_stats = setup.vocab, setup.scaler, setup.model, setup.pretrain_stats
    smiles = list(table.smiles)
    train_smiles = [smiles[i] for i in split.train]
    y = table.targets.astype(np.float32)
    y_fit = scaler.transform(y) if scaler else y

    train_set = SmilesDataset(train_smiles, y_fit[split.train], vocab, augment=d.augment > 0, seed=seed)
    val_set = SmilesDataset([smiles[i] for i in split.val], y_fit[split.val], vocab)
    sampler = LengthBucketSampler(train_set.lengths, train_cfg.batch_size, shuffle=True, seed=seed)
    train_loader = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate_tokens, num_workers=train_cfg.num_workers)
    val_loader = DataLoader(val_set, batch_sampler=LengthBucketSampler(val_set.lengths, 256, shuffle=False),
                            collate_fn=collate_tokens)  # fmt: skip

    module = MultiTaskModule(model, train_cfg, task_type)
    monitor, mode = module.monitor
    fit = fit_module(module, train_loader, val_loader, train_cfg, run_dir, monitor, mode, callbacks=[EpochCallback(train_set, sampler)])

    model = fit.module.model
    val = predict_smiles(model, vocab, [smiles[i] for i in split.val], task_type, scaler, d.tta, seed)
    test = predict_smiles(model, vocab, [smiles[i] for i in split.test], task_type, scaler, d.tta, seed)
    return SmilesFitResult(
        model, vocab, scaler, task_type, test.scores, val.scores, fit.seconds, fit.epochs, fit.seconds / max(fit.epochs, 1),
        fit.best_epoch, fit.best_score, {"train": train_set.unknown_tokens, "val": val.unknown_tokens, "test": test.unknown_tokens},
        test.tokens, test.attention, pretrain_stats,
    )  # fmt: skip


def run_smiles_experiment(config: SmilesRunConfig, run_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Train on the training split, pick the epoch on validation, evaluate once on test; write the run folder.

    Writes config.yaml, metrics.json, predictions.npz, attention.json and model/ (the artifact). Returns metrics.
    """
    from medrnn.metrics.molecules import evaluate_molecules

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    seed = config.train.seed
    table, report, task_type, split_kind = load_table(config)
    for r in report.rejected:
        log.warning("%s row %d rejected (%s): %s", report.source, r.row, r.reason, r.smiles)
    split = make_split(split_kind, table.smiles, config.data.split_sizes, seed)
    fit = fit_smiles_model(table, split, task_type, run_dir, config, seed, progress)

    t0 = time.perf_counter()
    y_test = table.targets[split.test]
    metrics_report = evaluate_molecules(y_test, fit.test_score, list(table.target_names), task_type, n_boot=config.bootstrap, seed=seed)
    evaluate_seconds = time.perf_counter() - t0
    test_smiles = [table.smiles[i] for i in split.test]

    preprocessing = {
        "vocabulary": fit.vocab.state_dict(), "target_scaler": fit.scaler.state_dict() if fit.scaler else None,
        "task_type": task_type, "tta": config.data.tta, "smiles": "RDKit canonical isomeric, atom-level regex tokens",
    }  # fmt: skip
    save_artifact(run_dir / "model", fit.model, preprocessing, list(table.target_names),
                  [table.smiles[i] for i in split.train], extra={"task": "smiles", "dataset": config.data.data,
                  "split": {"kind": split_kind, "seed": seed}, "best_val": {"metric": fit.best_val}})  # fmt: skip
    np.savez(run_dir / "predictions.npz", smiles=np.array(test_smiles), y_true=y_test, y_score=fit.test_score,
             task_names=np.array(table.target_names), rows=table.rows[split.test])  # fmt: skip
    _write_attention(run_dir / "attention.json", test_smiles, fit, y_test)
    metrics = {
        "kind": "molecules",
        "task_type": task_type,
        "dataset": config.data.data,
        "split": {"kind": split_kind, "seed": seed, "sizes": list(config.data.split_sizes),
                  "counts": {"train": len(split.train), "val": len(split.val), "test": len(split.test)}},
        "test": metrics_report.to_dict(),
        "data": {"read": report.to_dict(),
                 "vocabulary": {"size": len(fit.vocab), **{f"unknown_tokens_{k}": v for k, v in fit.unknown_tokens.items()}}},
        "pretrain": fit.pretrain,
        "training": {"epochs": fit.epochs, "best_epoch": fit.best_epoch, "best_val": fit.best_val,
                     "augment": config.data.augment, "tta": config.data.tta},
        "timings": {"train_seconds": fit.train_seconds, "seconds_per_epoch": fit.seconds_per_epoch, "evaluate_seconds": evaluate_seconds},
    }  # fmt: skip
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _write_attention(path: Path, smiles: list[str], fit: SmilesFitResult, y_true: np.ndarray, n: int = 12) -> None:
    """Attention over the canonical tokens of the `n` highest-scoring test molecules (for the report)."""
    if not fit.test_attention:
        return
    order = np.argsort(-fit.test_score.mean(axis=1))[:n]
    items = [{"smiles": smiles[i], "tokens": fit.test_tokens[i], "weights": [round(float(w), 5) for w in fit.test_attention[i]],
              "score": [float(v) for v in fit.test_score[i]], "target": [None if np.isnan(v) else float(v) for v in y_true[i]]}
             for i in order]  # fmt: skip
    path.write_text(json.dumps(items, indent=1))


__all__ = [
    "SmilesFitResult",
    "SmilesSetup",
    "fit_smiles_model",
    "load_smiles_checkpoint",
    "load_table",
    "prepare_smiles_model",
    "run_smiles_experiment",
]
