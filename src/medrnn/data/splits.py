"""Seeded train/validation/test splits of molecules: random, and Bemis-Murcko scaffold (balanced).

Splits return integer positions; they are computed before anything (vocabulary, scaler) is fitted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from medrnn.errors import ConfigError
from medrnn.io.smiles import screen_smiles

SPLITS = ("random", "scaffold")


class Split(NamedTuple):
    train: np.ndarray  # (n_train,) int64 positions
    val: np.ndarray
    test: np.ndarray

    def to_dict(self) -> dict[str, list[int]]:
        return {"train": self.train.tolist(), "val": self.val.tolist(), "test": self.test.tolist()}


def check_sizes(sizes: Sequence[float]) -> tuple[float, float, float]:
    """Three non-negative train/val/test fractions summing to 1, else a ConfigError."""
    if len(sizes) != 3 or min(sizes) < 0 or abs(sum(sizes) - 1.0) > 1e-6:
        raise ConfigError(f"split sizes must be three non-negative fractions summing to 1 (train, val, test), got {tuple(sizes)}")
    return float(sizes[0]), float(sizes[1]), float(sizes[2])


def random_split(n: int, sizes: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> Split:
    """Shuffle positions with `seed` and cut them 80/10/10 (or `sizes`)."""
    train_f, val_f, _ = check_sizes(sizes)
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_val = int(train_f * n), int(val_f * n)
    return Split(np.sort(order[:n_train]), np.sort(order[n_train : n_train + n_val]), np.sort(order[n_train + n_val :]))


def murcko_scaffold(smiles: str, include_chirality: bool = False) -> str:
    """Bemis-Murcko scaffold SMILES of a molecule ('' for acyclic molecules, which share one scaffold)."""
    from rdkit import Chem, rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    reason = screen_smiles(smiles)  # callers pass reader output, but RDKit crashes on huge input: never risk it
    if reason is not None:
        raise ConfigError(f"cannot compute a scaffold of {smiles[:80]!r}: {reason}")
    _quiet = rdBase.BlockLogs()  # noqa: F841  (RDKit warns on every lone [H]; blocked while this object lives)
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ConfigError(f"cannot compute a scaffold: RDKit cannot parse {smiles!r}")
    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=include_chirality)


def scaffold_split(smiles: Sequence[str], sizes: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0, balanced: bool = True,
                   scaffolds: Sequence[str] | None = None) -> Split:  # fmt: skip
    """Bemis-Murcko scaffold split: every scaffold lies in exactly one of train, validation, test.

    balanced=True is chemprop's SCAFFOLD_BALANCED as it was defined in chemprop 1.x (Yang et al. 2019):
    scaffold sets too large for validation or test go to training first, in random order, then the
    rest in random order, each filling train, then validation, then test. Written here because
    chemprop 2's astartes-based sampler does not keep the large-scaffolds-to-train rule and the
    benchmark must hand identical indices to every model. balanced=False: largest sets first (deterministic).
    `scaffolds`: each molecule's scaffold when already computed (RDKit takes tens of seconds on HIV's 41k).
    """
    train_f, val_f, test_f = check_sizes(sizes)
    n = len(smiles)
    n_train, n_val = train_f * n, val_f * n
    groups: dict[str, list[int]] = defaultdict(list)
    if scaffolds is not None and len(scaffolds) != n:
        raise ConfigError(f"{len(scaffolds)} scaffolds for {n} molecules; give one per molecule")
    for i, s in enumerate(smiles if scaffolds is None else scaffolds):
        groups[murcko_scaffold(s) if scaffolds is None else s].append(i)
    sets = list(groups.values())
    if balanced:
        rng = np.random.default_rng(seed)
        big = [s for s in sets if len(s) > val_f * n / 2 or len(s) > test_f * n / 2]
        small = [s for s in sets if not (len(s) > val_f * n / 2 or len(s) > test_f * n / 2)]
        rng.shuffle(big)
        rng.shuffle(small)
        sets = big + small
    else:
        sets.sort(key=lambda s: (len(s), s[0]), reverse=True)
    train, val, test = [], [], []
    for group in sets:
        if len(train) + len(group) <= n_train:
            train += group
        elif len(val) + len(group) <= n_val:
            val += group
        else:
            test += group
    return Split(*(np.array(sorted(part), dtype=np.int64) for part in (train, val, test)))


def make_split(kind: str, smiles: Sequence[str], sizes: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
               scaffolds: Sequence[str] | None = None) -> Split:  # fmt: skip
    """Split by name ('random' or 'scaffold'; `scaffolds` spares recomputing them)."""
    if kind == "random":
        return random_split(len(smiles), sizes, seed)
    if kind == "scaffold":
        return scaffold_split(smiles, sizes, seed, scaffolds=scaffolds)
    raise ConfigError(f"split {kind!r}; valid: {', '.join(SPLITS)}")


def patient_split(patient_ids: Sequence[str], sizes: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                  stratify: Sequence[int] | None = None) -> Split:  # fmt: skip
    """Positions of `patient_ids` (one per sample, repeats allowed) split so that each patient lies in one part.

    Patients are sorted, then shuffled with `seed`, so the split depends on the set of patients, not on sample
    order. `stratify` (aligned with `patient_ids`) keeps the share of patients with a positive (max over their
    samples) label in each part, through scikit-learn.
    """
    train_f, val_f, test_f = check_sizes(sizes)
    ids = np.asarray([str(p) for p in patient_ids])
    patients, inverse = np.unique(ids, return_inverse=True)
    if stratify is None:
        order = np.random.default_rng(seed).permutation(len(patients))
        n_train, n_val = int(round(train_f * len(patients))), int(round(val_f * len(patients)))
        parts = [order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]]
    else:
        from sklearn.model_selection import train_test_split

        labels = np.asarray(stratify)
        if labels.shape != ids.shape:
            raise ConfigError(f"stratify has {labels.shape[0]} labels for {ids.shape[0]} patient ids; give one per id")
        per_patient = np.zeros(len(patients), dtype=labels.dtype)
        np.maximum.at(per_patient, inverse, labels)
        index = np.arange(len(patients))
        try:
            rest, test = train_test_split(index, test_size=test_f, stratify=per_patient, random_state=seed)
            train, val = train_test_split(rest, test_size=val_f / (train_f + val_f), stratify=per_patient[rest], random_state=seed)
        except ValueError as err:
            raise ConfigError(f"cannot stratify {len(patients)} patients with sizes {tuple(sizes)}: {err}") from err
        parts = [train, val, test]
    return Split(*(np.flatnonzero(np.isin(inverse, part)) for part in parts))


def check_split(units: np.ndarray, split: Split, where: str = "") -> None:
    """Refuse a split that puts one split unit (patient, record, ...) on two sides: that would leak."""
    parts = {name: set(np.asarray(units)[np.asarray(index, dtype=np.int64)].tolist()) for name, index in split._asdict().items()}
    names = list(parts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = parts[a] & parts[b]
            if both:
                raise ConfigError(f"{where}split puts {len(both)} units in both {a} and {b} (e.g. {sorted(both)[:3]}); "
                                  "a unit must lie on one side")  # fmt: skip
    for name, index in split._asdict().items():
        if len(index) == 0:
            raise ConfigError(f"{where}the {name} part of the split is empty; more data or other split sizes are needed")


def subsample_train(split: Split, fraction: float, seed: int) -> Split:
    """The split with a seeded `fraction` of its training positions (at least one; kept in order), for learning curves:
    smaller fractions are subsets of larger ones (one seeded permutation), and validation and test are unchanged."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"train_fraction {fraction}: expected a share in (0, 1]")
    if fraction == 1:
        return split
    rng = np.random.default_rng([seed, 7207])  # its own stream: the subset does not move the split's or the model's seeds
    n = max(1, round(fraction * len(split.train)))
    keep = np.sort(rng.permutation(len(split.train))[:n])
    return Split(np.asarray(split.train)[keep], split.val, split.test)
