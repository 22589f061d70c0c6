"""RDKit 2-D descriptors of molecules, and their scaler fitted on training molecules (the descriptor-fusion input).

Every descriptor RDKit lists (`Descriptors._descList`: 217 in RDKit 2026.09; molecular weight, logP, TPSA, counts,
charges, BCUT, fragment counts ...), as chemprop's `rdkit_2d` features. RDKit computes them; what it does not do is
scale them for a network: the scaler winsorises each descriptor to its 0.5-99.5 % training range, then standardises it,
and a value RDKit could not compute (NaN or infinite) becomes the training mean (0 after scaling). Descriptors constant
on the training molecules are dropped. A dataset split's values can be cached under the cache dir (`cache=True`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from medrnn import paths
from medrnn.atomic import atomic_path


def descriptor_names() -> list[str]:
    """The names of RDKit's 2-D descriptors, in RDKit's order."""
    from rdkit.Chem import Descriptors

    return [name for name, _ in Descriptors._descList]


def compute_descriptors(smiles: list[str], cache: bool = True) -> np.ndarray:
    """(molecules, descriptors) float64, NaN where RDKit cannot compute a value or parse the SMILES."""
    from rdkit import Chem, RDLogger, rdBase
    from rdkit.Chem import Descriptors

    names = descriptor_names()
    key = hashlib.sha1("\n".join([rdBase.rdkitVersion, *names, "", *smiles]).encode()).hexdigest()[:20]
    path = paths.cache_dir() / "descriptors" / f"{key}.npy"
    if cache and path.exists():
        return np.load(path, allow_pickle=False)
    RDLogger.DisableLog("rdApp.*")
    out = np.full((len(smiles), len(names)), np.nan)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is None:
            continue
        values = Descriptors.CalcMolDescriptors(mol, missingVal=np.nan)
        out[i] = [values.get(n, np.nan) for n in names]
    RDLogger.EnableLog("rdApp.*")
    out[~np.isfinite(out)] = np.nan
    if cache:
        with atomic_path(path) as tmp:
            np.save(tmp, out)
    return out


@dataclass
class DescriptorScaler:
    """Per kept descriptor: winsorising range and mean/std on training molecules (JSON-serialisable)."""

    names: list[str]
    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, names: list[str]) -> DescriptorScaler:
        """Fit on the training molecules' descriptors (NaN ignored); constant ones are left out."""
        with np.errstate(all="ignore"):
            low, high = np.nanpercentile(values, 0.5, axis=0), np.nanpercentile(values, 99.5, axis=0)
            clipped = np.clip(values, low, high)
            mean, std = np.nanmean(clipped, axis=0), np.nanstd(clipped, axis=0)
        keep = np.isfinite(low) & np.isfinite(high) & np.isfinite(std) & (std > 1e-8)
        return cls([n for n, k in zip(names, keep) if k], low[keep], high[keep], mean[keep], std[keep])

    def transform(self, values: np.ndarray, names: list[str]) -> np.ndarray:
        """(molecules, kept descriptors) float32: winsorised, standardised, missing -> 0."""
        index = [names.index(n) for n in self.names]
        x = np.clip(values[:, index], self.low, self.high)
        z = (x - self.mean) / self.std
        return np.nan_to_num(z, nan=0.0).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state (names, ranges, means, stds) for the artifact."""
        return {"names": list(self.names), **{k: getattr(self, k).tolist() for k in ("low", "high", "mean", "std")}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> DescriptorScaler:
        """Inverse of `state_dict`."""
        return cls(list(state["names"]), *(np.asarray(state[k], dtype=np.float64) for k in ("low", "high", "mean", "std")))


__all__ = ["DescriptorScaler", "compute_descriptors", "descriptor_names"]
