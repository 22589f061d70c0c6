"""Applicability domain of a SMILES model: how close a molecule is to the training molecules.

Every prediction carries the Tanimoto similarity of its ECFP4 fingerprint (Morgan radius 2, 2,048 bits) to the nearest
training molecule, and `in_domain` = similarity >= 0.4. The cut-off: on ECFP4, pairs below 0.4 rarely share activity
(Maggiora et al., J Med Chem 2014), and issue #24 measured medrnn's BBBP model near chance (ROC-AUC ~0.63) on external
BBB molecules whose nearest training neighbour lies below it; docs/benchmarks.md ("Applicability domain") scores models
on both sides of it. The training fingerprints are stored in the artifact (packed bits, base64): molecules, not patient
data.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medrnn.errors import ArtifactError

N_BITS = 2048
CUTOFF = 0.4



def fingerprints(smiles: Sequence[str]) -> np.ndarray:
    """(n, N_BITS / 8) uint8 packed ECFP4 bits of canonical SMILES (all zero where RDKit cannot parse one)."""
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=N_BITS)
    out = np.zeros((len(smiles), N_BITS // 8), dtype=np.uint8)
    _quiet = rdBase.BlockLogs()  # noqa: F841  (readers already rejected unparsable rows and said why)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        if mol is not None:
            out[i] = np.packbits(generator.GetFingerprintAsNumPy(mol).astype(bool))
    return out


@dataclass
class Domain:
    """The training molecules' fingerprints and the similarity cut-off."""

    train: np.ndarray  # (n_train, N_BITS / 8) uint8
    cutoff: float = CUTOFF
    _bits: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def fit(cls, smiles: Sequence[str]) -> Domain:
        """The domain of the training molecules (never validation or test)."""
        return cls(fingerprints(smiles))

    def nearest(self, smiles: Sequence[str], chunk: int = 1024) -> np.ndarray:
        """(n,) Tanimoto similarity of each molecule to its nearest training molecule (0 with no training molecule):
        |a & b| / (|a| + |b| - |a & b|), the intersections as one matrix product of 0/1 bits."""
        out = np.zeros(len(smiles))
        if not len(self.train) or not len(smiles):
            return out
        if self._bits is None:  # unpacked once per loaded model: (n_train, N_BITS) float32
            self._bits = np.unpackbits(self.train, axis=1).astype(np.float32)
        train, counts = self._bits, self._bits.sum(axis=1)
        for start in range(0, len(smiles), chunk):
            q = np.unpackbits(fingerprints(smiles[start : start + chunk]), axis=1).astype(np.float32)
            both = q @ train.T  # (chunk, n_train)
            either = q.sum(axis=1)[:, None] + counts[None, :] - both
            out[start : start + chunk] = (both / np.maximum(either, 1)).max(axis=1)
        return out

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready: the packed fingerprints as base64, their count and the cut-off."""
        return {"fingerprint": f"ECFP4 {N_BITS} bits", "n_train": int(len(self.train)), "cutoff": self.cutoff,
                "bits": base64.b64encode(self.train.tobytes()).decode("ascii")}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Domain:
        """Inverse of `state_dict`; a state whose size does not match its count is refused."""
        raw = base64.b64decode(state["bits"])
        n = int(state["n_train"])
        if len(raw) != n * N_BITS // 8:
            raise ArtifactError(f"field 'preprocessing.domain': {len(raw)} bytes of fingerprints for {n} molecules; "
                                f"expected {n * N_BITS // 8}")  # fmt: skip
        return cls(np.frombuffer(raw, dtype=np.uint8).reshape(n, N_BITS // 8).copy(), float(state.get("cutoff", CUTOFF)))
