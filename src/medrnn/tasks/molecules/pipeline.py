"""The fitted preprocessing of a SMILES model: token vocabulary, target scaler (regression), test-time averaging."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from medrnn.records import MoleculeTable
from medrnn.tasks.base import Pipeline
from medrnn.tasks.molecules.config import SmilesRunConfig
from medrnn.tasks.molecules.domain import N_BITS, Domain, fingerprints
from medrnn.transforms.descriptors import DescriptorScaler, compute_descriptors, descriptor_names
from medrnn.transforms.smiles import Vocabulary, randomize_smiles, tokenize
from medrnn.transforms.standardize import Standardizer

SMILES_NOTE = "RDKit canonical isomeric, atom-level regex tokens"


@dataclass
class SmilesPipeline(Pipeline):
    """Vocabulary (training SMILES, or the pretraining corpus), target scaler, task type and TTA of one SMILES model.

    `pretrained` / `pretrain_stats` carry the language model from `fit` to `build_model` (never into the artifact: the
    weights are in the model). `tta_seed` seeds the random SMILES of test-time averaging (the run's seed).
    """

    vocab: Vocabulary
    scaler: Standardizer | None
    task_type: str  # classification | regression
    tta: int
    label_names: list[str]
    tta_seed: int = 0
    threshold: float | None = None  # classification: tuned on validation (balanced accuracy); the pred_* columns
    pretrained: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    pretrain_stats: dict[str, float] | None = None
    domain: Domain | None = field(default=None, repr=False)  # the training molecules' fingerprints (applicability domain)
    descriptors: DescriptorScaler | None = None  # descriptor fusion: the scaler of RDKit descriptors, fitted on train
    ecfp4: bool = False  # fingerprint fusion: the molecule's 2,048 ECFP4 bits (0/1, unscaled) join the encoder's features

    @property
    def output_kind(self) -> str:  # type: ignore[override]
        """regression, binary (one target) or multilabel (several, with missing labels)."""
        if self.task_type == "regression":
            return "regression"
        return "binary" if len(self.label_names) == 1 else "multilabel"

    @classmethod
    def fit(cls, table: MoleculeTable, train: np.ndarray, task_type: str, config: SmilesRunConfig) -> SmilesPipeline:
        """Vocabulary and scaler on the training molecules; with pretraining, the LM (trained now or cached) and its vocabulary.

        Draws no global random numbers that fine-tuning would see: the caller seeds before the model is built.
        """
        d, seed = config.data, config.train.seed
        smiles = list(table.smiles)
        train_smiles = [smiles[i] for i in train]
        pretrained, stats = None, None
        if config.pretrain.enabled:
            from medrnn.tasks.molecules.pretrain import pretrain_encoder

            # the corpus never holds a molecule of this dataset (train, validation or test): nothing to leak
            pretrained, vocab, stats = pretrain_encoder(config.model, config.pretrain, smiles, config.train)
        else:
            # the vocabulary sees training molecules only; random SMILES of them add ring-closure digits canonical ones lack
            token_lists = [tokenize(s) for s in train_smiles]
            if d.augment:
                token_lists += [tokenize(r) for i, s in enumerate(train_smiles) for r in randomize_smiles(s, 2, seed * 31 + i)]
            vocab = Vocabulary(d.min_token_freq).fit(token_lists)
        scaler = Standardizer().fit(table.targets.astype(np.float32)[train]) if task_type == "regression" else None
        kinds = set(d.descriptors.split("+"))  # none | rdkit2d | ecfp4 | rdkit2d+ecfp4
        descriptors = DescriptorScaler.fit(compute_descriptors(train_smiles), descriptor_names()) if "rdkit2d" in kinds else None
        return cls(vocab, scaler, task_type, d.tta, list(table.target_names), seed, None, pretrained, stats, Domain.fit(train_smiles),
                   descriptors, ecfp4="ecfp4" in kinds)  # fmt: skip

    def static(self, smiles: list[str], cache: bool = False) -> np.ndarray | None:
        """Per-molecule features beside the tokens (molecules, num_static) float32: scaled RDKit descriptors, then the
        ECFP4 bits; None without fusion. `cache`: keep the raw descriptors under the cache dir (a dataset's splits, read
        again by every run); never for predict inputs, which would leave one file per call."""
        parts = []
        if self.descriptors is not None:
            parts.append(self.descriptors.transform(compute_descriptors(list(smiles), cache=cache), descriptor_names()))
        if self.ecfp4:
            parts.append(np.unpackbits(fingerprints(list(smiles)), axis=1).astype(np.float32))
        return np.concatenate(parts, axis=1) if parts else None

    @property
    def num_static(self) -> int:
        """How many features join the encoder's before the head (descriptors, fingerprint bits; 0 without fusion)."""
        return (len(self.descriptors.names) if self.descriptors is not None else 0) + (N_BITS if self.ecfp4 else 0)

    def scale(self, y: np.ndarray) -> np.ndarray:
        """Targets as the model is trained on them: float32, standardised for regression (NaN stays NaN)."""
        y = y.astype(np.float32)
        return self.scaler.transform(y) if self.scaler is not None else y

    def state_dict(self) -> dict[str, Any]:
        """The keys artifacts of `medrnn train smiles` have always held, plus label names and the TTA seed."""
        return {"vocabulary": self.vocab.state_dict(), "target_scaler": self.scaler.state_dict() if self.scaler else None,
                "task_type": self.task_type, "tta": self.tta, "tta_seed": self.tta_seed, "label_names": list(self.label_names),
                "smiles": SMILES_NOTE, "threshold": self.threshold,
                "domain": self.domain.state_dict() if self.domain is not None else None,
                "descriptors": self.descriptors.state_dict() if self.descriptors is not None else None, "ecfp4": self.ecfp4}  # fmt: skip

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> SmilesPipeline:
        """Inverse of `state_dict`; older artifacts lack label_names (artifact.json's class_names), tta_seed (0), the
        threshold and the domain."""
        scaler = Standardizer.from_state(state["target_scaler"]) if state.get("target_scaler") else None
        threshold = state.get("threshold")
        domain = Domain.from_state(state["domain"]) if state.get("domain") else None  # older artifacts have neither
        descriptors = DescriptorScaler.from_state(state["descriptors"]) if state.get("descriptors") else None
        return cls(Vocabulary.from_state(state["vocabulary"]), scaler, str(state["task_type"]), int(state.get("tta", 0)),
                   list(state.get("label_names", [])), int(state.get("tta_seed", 0)), None if threshold is None else float(threshold),
                   domain=domain, descriptors=descriptors, ecfp4=bool(state.get("ecfp4", False)))  # fmt: skip

    def compatibility(self) -> dict[str, Any]:
        """Ensemble members must share labels and task type; vocabularies may differ (each member encodes its own)."""
        return {"label_names": list(self.label_names), "output_kind": self.output_kind, "task_type": self.task_type}
