"""RDKit time on the largest SMILES the caps admit, the rejection time of over-cap strings, and the longest real inputs.

The caps (medrnn.io.smiles.MAX_SMILES_CHARS, MAX_HEAVY_ATOMS) are checked before RDKit sees a string: a 20,000-atom
chain made RDKit segfault after ~40 s, so the check makes that crash impossible instead of isolating it in a process.
Run: python benchmarks/smiles_caps.py  ->  benchmarks/results/smiles_caps.json (medians of 5 repeats).
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from rdkit import Chem

from medrnn import paths
from medrnn.data.splits import murcko_scaffold
from medrnn.io.smiles import MAX_HEAVY_ATOMS, MAX_SMILES_CHARS, canonical_smiles, parse_smiles, screen_smiles
from medrnn.transforms.smiles import randomize_smiles

OUT = Path(__file__).parent / "results" / "smiles_caps.json"
REPEATS = 5


def cubic(n: int, seed: int = 0) -> str:
    """A random 3-regular carbon graph: many rings, ring-closure heavy SMILES."""
    rng = random.Random(seed)
    while True:
        stubs = [i for i in range(n) for _ in range(3)]
        rng.shuffle(stubs)
        edges = {tuple(sorted(e)) for e in zip(stubs[::2], stubs[1::2])}
        if len(edges) == 3 * n // 2 and all(a != b for a, b in edges):
            break
    mol = Chem.RWMol()
    for _ in range(n):
        mol.AddAtom(Chem.Atom(6))
    for a, b in edges:
        mol.AddBond(a, b, Chem.BondType.SINGLE)
    return Chem.MolToSmiles(mol, canonical=False)


def median_seconds(fn, *args) -> float:
    """Median wall time of fn(*args) over REPEATS calls."""
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    a = MAX_HEAVY_ATOMS
    cases = {
        "chain C x 1000": "C" * a,
        "branches nested 999 deep": "C(" * (a - 1) + "C" + ")" * (a - 1),
        "[C@@H](F) x 500": "[C@@H](F)" * (a // 2),
        "166 benzene rings": "c1ccccc1" * 166,
        "random 3-regular graph": max((s for s in (cubic(n) for n in range(600, 1001, 50)) if len(s) <= MAX_SMILES_CHARS), key=len),
    }
    seen: list[str] = []
    real = Chem.MolFromSmiles
    Chem.MolFromSmiles = lambda s, *args, **kw: (seen.append(s), real(s, *args, **kw))[1]  # every string RDKit is given
    at_cap = []
    for name, smiles in cases.items():
        assert screen_smiles(smiles) is None, name
        mol, _ = parse_smiles(smiles)
        canonical = canonical_smiles(mol)
        at_cap.append({"input": name, "chars": len(smiles), "heavy_atoms": mol.GetNumHeavyAtoms(),
                       "parse_sanitize_canonical_s": median_seconds(lambda text: canonical_smiles(parse_smiles(text)[0]), smiles),
                       "random_smiles_s": median_seconds(randomize_smiles, canonical, 1, 0),
                       "murcko_scaffold_s": median_seconds(murcko_scaffold, canonical)})  # fmt: skip
    rejected = [{"chars": len(s), "seconds": median_seconds(parse_smiles, s), "reason": parse_smiles(s)[1]}
                for s in ("C" * 20_000, "C" * (a + 1), "C" * 1_000_000)]  # fmt: skip
    Chem.MolFromSmiles = real
    longest = {"chars": 0}
    for csv in sorted(paths.dataset_dir("moleculenet").glob("*.csv")):
        column = next(c for c in pd.read_csv(csv, nrows=0).columns if c.lower() in ("smiles", "mol"))
        for smiles in pd.read_csv(csv, usecols=[column])[column].dropna().astype(str):
            if len(smiles) > longest["chars"]:
                mol = real(smiles)
                longest = {"file": csv.name, "chars": len(smiles), "heavy_atoms": mol.GetNumHeavyAtoms() if mol else None}
    result = {
        "benchmark": "smiles_caps", "command": "python benchmarks/smiles_caps.py", "repeats": REPEATS,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": f"{platform.machine()}, {platform.platform()}",
        "caps": {"max_smiles_chars": MAX_SMILES_CHARS, "max_heavy_atoms": MAX_HEAVY_ATOMS},
        "at_cap": at_cap, "rejected": rejected, "longest_moleculenet_smiles": longest,
        "summary": {"max_parse_s_at_cap": max(c["parse_sanitize_canonical_s"] for c in at_cap),
                    "max_reject_s": max(r["seconds"] for r in rejected),
                    "rdkit_calls": len(seen), "rdkit_longest_input_chars": max(map(len, seen)),
                    "rdkit_saw_over_cap": any(screen_smiles(s) is not None for s in seen)},
    }  # fmt: skip
    OUT.write_text(json.dumps(result, indent=2))
    print(json.dumps(result["summary"], indent=2), "\nlongest real:", longest)


if __name__ == "__main__":
    main()
