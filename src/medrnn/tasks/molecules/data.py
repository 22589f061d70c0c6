"""SMILES tables and token batches: read a MoleculeNet name or CSV, token datasets with per-epoch enumeration, loaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from medrnn import paths
from medrnn.data.batch import Batch
from medrnn.data.sampling import LengthBucketSampler
from medrnn.errors import ConfigError
from medrnn.io.smiles import ReadReport, read_smiles_csv
from medrnn.records import MoleculeTable
from medrnn.tasks.molecules.config import SmilesRunConfig
from medrnn.tasks.molecules.spec import MOLECULENET, get_spec, infer_task_type
from medrnn.transforms.smiles import Vocabulary, randomize_smiles, tokenize


@dataclass
class Molecules:
    """The samples of a molecule run: the table read, its task type and split kind (resolved from the config)."""

    table: MoleculeTable
    task_type: str  # classification | regression
    split_kind: str  # random | scaffold


def missing_molecule_data(config: SmilesRunConfig) -> dict[str, list[str]]:
    """{"moleculenet": [files]}: the MoleculeNet files the run reads (`data.data`, and the pretraining corpus) that are
    not under the data root; a CSV path that does not exist, or a name that is neither, is a ConfigError listing the
    MoleculeNet names."""
    d = config.data
    names = [d.data.lower()] if d.data.lower() in MOLECULENET else []
    if not names and not Path(d.data).expanduser().is_file():
        kind = "no such file" if Path(d.data).suffix or "/" in d.data or "\\" in d.data else "not a MoleculeNet dataset nor a file"
        raise ConfigError(f"--data {d.data!r}: {kind}; MoleculeNet datasets: {', '.join(MOLECULENET)}, or the path of a CSV of SMILES")
    if config.pretrain.enabled:
        corpus = [n for c in config.pretrain.corpus for n in (MOLECULENET if c.lower() == "moleculenet" else [c.lower()])]
        names += [n for n in corpus if n in MOLECULENET]
    files = dict.fromkeys(get_spec(n).file for n in names)
    missing = [f.partition("/")[2] for f in files if not paths.data_file(f).exists()]
    return {"moleculenet": missing} if missing else {}


def load_table(config: SmilesRunConfig) -> tuple[MoleculeTable, ReadReport, str, str]:
    """(table, read report, task type, split kind) for a MoleculeNet name or a CSV path."""
    d = config.data
    missing_molecule_data(config)  # an unknown name is named as such, before any column is asked for
    if d.data.lower() in MOLECULENET:
        spec = get_spec(d.data)
        path = paths.data_file(spec.file)
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


class SmilesDataset(Dataset):
    """Item i -> (token ids, targets, i). With `augment`, a new random SMILES of molecule i every epoch.

    The random SMILES is seeded by (seed, epoch, i), so a run is reproducible; call `set_epoch` each
    epoch (EpochCallback does). `y` is (n, n_tasks) float32, NaN = missing label.
    """

    def __init__(
        self, smiles: Sequence[str], y: np.ndarray | None, vocab: Vocabulary, augment: bool = False, seed: int = 0, bos_eos: bool = False,
        static: np.ndarray | None = None,
    ) -> None:
        self.smiles, self.vocab, self.augment, self.seed, self.bos_eos = list(smiles), vocab, augment, seed, bos_eos
        # per molecule descriptors (descriptor fusion), the same for every SMILES view of it; None: tokens only
        self.static = None if static is None else torch.as_tensor(np.asarray(static, dtype=np.float32))
        n = len(self.smiles)
        self.y = torch.full((n, 1), float("nan")) if y is None else torch.as_tensor(np.asarray(y, dtype=np.float32).reshape(n, -1))
        self.epoch = 0
        self.unknown_tokens = 0  # <unk> tokens seen in canonical encodings (counted once, at construction)
        self._canonical = []
        for s in self.smiles:
            ids, n_unknown = vocab.encode(tokenize(s), add_bos_eos=bos_eos)
            self._canonical.append(torch.from_numpy(ids))
            self.unknown_tokens += n_unknown
        self.lengths = np.array([len(t) for t in self._canonical])

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose random SMILES this dataset serves (one enumeration per epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.smiles)

    def __getitem__(self, i: int) -> tuple:
        if not self.augment:
            ids = self._canonical[i]
        else:
            seed = (self.seed * 1_000_003 + self.epoch) * 10_000_019 + i
            ids = torch.from_numpy(self.vocab.encode(tokenize(randomize_smiles(self.smiles[i], 1, seed)[0]), add_bos_eos=self.bos_eos)[0])
        return (ids, self.y[i], i) if self.static is None else (ids, self.y[i], i, self.static[i])


def collate_tokens(items: list[tuple]) -> Batch:
    """Pad token ids with 0 (<pad>) at the end; mask is True on real tokens; descriptors (4th item) stacked as `static`."""
    tokens = [it[0] for it in items]
    lengths = torch.tensor([len(t) for t in tokens], dtype=torch.long)
    x = torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True, padding_value=0)  # (batch, time)
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    y = torch.stack([it[1] for it in items])  # (batch, n_tasks)
    ids = torch.tensor([it[2] for it in items], dtype=torch.long)
    static = torch.stack([it[3] for it in items]) if len(items[0]) > 3 else None
    return Batch(x, lengths, mask, y, ids, static)


class EpochCallback(L.Callback):
    """Tells the augmenting dataset and the bucket sampler which epoch it is (new random SMILES, new order)."""

    def __init__(self, *targets: Any) -> None:
        self.targets = targets

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for t in self.targets:
            t.set_epoch(trainer.current_epoch)


def token_loaders(train_set: SmilesDataset, val_set: SmilesDataset, batch_size: int, seed: int,
                  num_workers: int = 0) -> tuple[DataLoader, DataLoader, list[L.Callback]]:  # fmt: skip
    """Length-bucketed train batches (reshuffled per epoch), sorted validation batches, and the epoch callback."""
    sampler = LengthBucketSampler(train_set.lengths, batch_size, shuffle=True, seed=seed)
    train = DataLoader(train_set, batch_sampler=sampler, collate_fn=collate_tokens, num_workers=num_workers)
    val = DataLoader(val_set, batch_sampler=LengthBucketSampler(val_set.lengths, 256, shuffle=False), collate_fn=collate_tokens)
    return train, val, [EpochCallback(train_set, sampler)]


def unknown_tokens(smiles: Sequence[str], vocab: Vocabulary) -> int:
    """How many tokens of these canonical SMILES the vocabulary maps to <unk>."""
    return int(sum(vocab.encode(tokenize(s))[1] for s in smiles))
