"""Length-bucketed batching for token sequences of very different lengths (SMILES, clinical notes)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of similar length (less padding: a 40-token molecule does not wait on a 300-token one,
    a 200-word note on a 1,300-word one).

    Each epoch: shuffle, cut into pools of `pool` batches, sort each pool by length, cut into batches,
    shuffle the batches. Seeded by (seed, epoch). Written here because torch has no length-bucketing sampler.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, shuffle: bool = True, seed: int = 0, pool: int = 50) -> None:
        self.lengths, self.batch_size, self.shuffle, self.seed, self.pool = np.asarray(lengths), batch_size, shuffle, seed, pool
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            yield from (order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size))
            return
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n)
        span = self.batch_size * self.pool
        batches = []
        for start in range(0, n, span):
            chunk = order[start : start + span]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)]
        for b in rng.permutation(len(batches)):
            yield batches[b]
