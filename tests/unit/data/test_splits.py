"""Random and scaffold splits: sizes, seeds, and no scaffold in two sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from medrnn.data.splits import make_split, murcko_scaffold, random_split, scaffold_split
from medrnn.errors import ConfigError
from medrnn.io.smiles import read_smiles_csv


def test_random_split_is_a_seeded_partition() -> None:
    split = random_split(1000, (0.8, 0.1, 0.1), seed=1)
    assert [len(p) for p in split] == [800, 100, 100]
    assert np.array_equal(np.sort(np.concatenate(split)), np.arange(1000))
    assert np.array_equal(random_split(1000, seed=1).test, split.test)
    assert not np.array_equal(random_split(1000, seed=2).test, split.test)


def test_split_sizes_are_checked() -> None:
    with pytest.raises(ConfigError, match="summing to 1"):
        random_split(10, (0.8, 0.3, 0.1))
    with pytest.raises(ConfigError, match="valid: random, scaffold"):
        make_split("cluster", ["C"], seed=0)


def test_scaffold_of_an_acyclic_molecule_is_empty_and_rings_are_kept() -> None:
    assert murcko_scaffold("CCO") == ""
    assert murcko_scaffold("CCc1ccccc1") == "c1ccccc1"


def test_scaffold_split_on_bbbp_keeps_every_scaffold_in_one_set(moleculenet_dir: Path) -> None:
    table, _ = read_smiles_csv(moleculenet_dir / "BBBP.csv", ["p_np"])
    split = scaffold_split(table.smiles, seed=0)
    assert np.array_equal(np.sort(np.concatenate(split)), np.arange(len(table)))
    sets = [{murcko_scaffold(table.smiles[i]) for i in part} for part in split]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert abs(len(split.train) - 0.8 * len(table)) < 0.02 * len(table)
    # balanced: the largest scaffold (benzene-like sets of hundreds) goes to training
    counts: dict[str, int] = {}
    for s in table.smiles:
        counts[murcko_scaffold(s)] = counts.get(murcko_scaffold(s), 0) + 1
    assert max(counts, key=counts.get) in sets[0]
    assert not np.array_equal(scaffold_split(table.smiles, seed=1).test, split.test)  # seed changes the split
    assert np.array_equal(scaffold_split(table.smiles, seed=0).test, split.test)


def test_scaffold_split_takes_precomputed_scaffolds() -> None:
    smiles = ["c1ccccc1CC", "c1ccccc1CCC", "C1CCCCC1O", "C1CCCCC1N", "CCO", "CCN", "c1ccncc1C", "c1ccncc1O", "CC(C)O", "OCCO"]
    given = scaffold_split(smiles, seed=3, scaffolds=[murcko_scaffold(s) for s in smiles])
    assert all((a == b).all() for a, b in zip(given, scaffold_split(smiles, seed=3)))
    with pytest.raises(ConfigError, match="2 scaffolds for 10 molecules"):
        scaffold_split(smiles, scaffolds=["a", "b"])
