"""SMILES token datasets: canonical or randomly enumerated SMILES -> token ids (batched by `data.sampling`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from medrnn.data.batch import Batch
from medrnn.transforms.smiles import Vocabulary, randomize_smiles, tokenize


class SmilesDataset(Dataset):
    """Item i -> (token ids, targets, i). With `augment`, a new random SMILES of molecule i every epoch.

    The random SMILES is seeded by (seed, epoch, i), so a run is reproducible; call `set_epoch` each
    epoch (the SmilesEpochCallback does). `y` is (n, n_tasks) float32, NaN = missing label.
    """

    def __init__(
        self, smiles: Sequence[str], y: np.ndarray | None, vocab: Vocabulary, augment: bool = False, seed: int = 0, bos_eos: bool = False
    ) -> None:
        self.smiles, self.vocab, self.augment, self.seed, self.bos_eos = list(smiles), vocab, augment, seed, bos_eos
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
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.smiles)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        if not self.augment:
            return self._canonical[i], self.y[i], i
        seed = (self.seed * 1_000_003 + self.epoch) * 10_000_019 + i
        ids, _ = self.vocab.encode(tokenize(randomize_smiles(self.smiles[i], 1, seed)[0]), add_bos_eos=self.bos_eos)
        return torch.from_numpy(ids), self.y[i], i


def collate_tokens(items: list[tuple[torch.Tensor, torch.Tensor, int]]) -> Batch:
    """Pad token ids with 0 (<pad>) at the end; mask is True on real tokens."""
    tokens = [it[0] for it in items]
    lengths = torch.tensor([len(t) for t in tokens], dtype=torch.long)
    x = torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True, padding_value=0)  # (batch, time)
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    y = torch.stack([it[1] for it in items])  # (batch, n_tasks)
    ids = torch.tensor([it[2] for it in items], dtype=torch.long)
    return Batch(x, lengths, mask, y, ids)
