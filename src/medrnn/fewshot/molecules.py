"""Few-shot molecules (Altae-Tran et al. 2017 protocol): meta-train on the first label columns of Tox21 or SIDER, test on
the last ones with k positive and k negative support molecules; every method scored on the same episodes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from medrnn.errors import ConfigError
from medrnn.fewshot.config import FewShotMoleculeConfig
from medrnn.fewshot.episodes import Episode, EpisodeSampler, last_tasks_held_out
from medrnn.fewshot.finetune import head_scores, pretrain_multitask
from medrnn.fewshot.protonet import encode_items, meta_train, prototype_logits
from medrnn.fewshot.scoring import episode_auc, summarise
from medrnn.models import build_model
from medrnn.records import MoleculeTable
from medrnn.tasks.molecules.config import SmilesRunConfig
from medrnn.tasks.molecules.data import SmilesDataset, collate_tokens, load_table
from medrnn.transforms.smiles import Vocabulary, tokenize

Scorer = Callable[[Episode], np.ndarray]


def load_molecules(config: FewShotMoleculeConfig) -> tuple[MoleculeTable, EpisodeSampler]:
    """The table (read as `medrnn train smiles --data NAME` reads it) and its sampler with the last columns held out."""
    table, _, task_type, _ = load_table(SmilesRunConfig.model_validate({"data": {"data": config.data, "tta": 0}}))
    if task_type != "classification":
        raise ConfigError(f"--data {config.data}: few-shot needs 0/1 labels; this table is {task_type}")
    try:
        n_test = config.held_out()
    except ValueError as err:
        raise ConfigError(str(err)) from None
    train, test = last_tasks_held_out(table.target_names, n_test)
    sampler = EpisodeSampler(table.targets, table.target_names, train, test)
    for k in config.k:
        sampler.check_k(k, test)
    return table, sampler


def ecfp4(smiles: list[str], n_bits: int = 1024) -> np.ndarray:
    """(n, n_bits) uint8 Morgan fingerprints of radius 2 (ECFP4) of canonical SMILES."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.warning")  # "not removing hydrogen atom without neighbors" on SIDER's salts, once per molecule
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=n_bits)
    return np.stack([generator.GetFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in smiles]).astype(np.uint8)


def rf_scorer(fingerprints: np.ndarray, seed: int) -> Scorer:
    """A random forest (scikit-learn, 100 trees) on ECFP4 fitted on the support molecules only: the non-learned floor."""
    from sklearn.ensemble import RandomForestClassifier

    def score(ep: Episode) -> np.ndarray:
        forest = RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)
        forest.fit(fingerprints[ep.support], ep.support_y.astype(int))
        return forest.predict_proba(fingerprints[ep.query])[:, 1]

    return score


def prototype_scorer(features: torch.Tensor) -> Scorer:
    """Prototype log-odds from fixed encoder features of every molecule."""
    return lambda ep: prototype_logits(features[ep.support], torch.as_tensor(ep.support_y), features[ep.query]).numpy()


def head_scorer(features: torch.Tensor) -> Scorer:
    """A new linear head fitted on the support features (encoder frozen)."""
    f = features.numpy()
    return lambda ep: head_scores(f[ep.support], ep.support_y, f[ep.query])


class MoleculeFewShot:
    """One benchmark run: the table, its episodes, the encoders trained once, every method scored per k."""

    def __init__(self, config: FewShotMoleculeConfig, log: bool = False) -> None:
        self.config, self.log = config, log
        self.table, self.sampler = load_molecules(config)
        smiles = list(self.table.smiles)
        # tokens of every molecule: unlabelled SMILES, the same molecules for every task (labels are never read here)
        self.vocab = Vocabulary(1).fit([tokenize(s) for s in smiles])
        self.dataset = SmilesDataset(smiles, None, self.vocab)
        self.episodes = {k: self.sampler.meta_test_episodes(k, config.episodes, config.seed, config.max_query) for k in config.k}
        self.training: dict[str, Any] = {}

    def batch_of(self, index: np.ndarray) -> Any:
        """Token batch of the molecules at `index`."""
        return collate_tokens([self.dataset[int(i)] for i in index])

    def _model(self, num_classes: int) -> torch.nn.Module:
        torch.manual_seed(self.config.seed)
        m = self.config.model
        return build_model(m.name, m, input_size=m.embedding_dim, num_classes=num_classes, vocab_size=len(self.vocab))

    def _all_features(self, model: torch.nn.Module) -> torch.Tensor:
        # only the molecules the test episodes use (every labelled molecule of a held-out task); the others stay zero
        needed = np.unique(np.concatenate([np.concatenate([ep.support, ep.query]) for eps in self.episodes.values() for ep in eps]))
        features = encode_items(model, self.batch_of, needed, self.dataset.lengths)
        full = torch.zeros(len(self.dataset), features.shape[1])
        full[torch.as_tensor(needed)] = features
        return full

    def scorers(self, method: str) -> Scorer:
        """Train what `method` needs (once) and return its episode scorer."""
        c = self.config
        if method == "rf_ecfp":
            return rf_scorer(ecfp4(list(self.table.smiles)), c.seed)
        if method == "protonet":
            model = self._model(1)
            self.training["protonet"] = meta_train(model, self.batch_of, self.sampler, c.k, c.meta_steps, c.meta_lr, c.seed,
                                                   c.meta_query, log_every=50 if self.log else 0, lengths=self.dataset.lengths)  # fmt: skip
            return prototype_scorer(self._all_features(model))
        if "multitask" not in self.training:
            cols = [self.table.target_names.index(t) for t in self.sampler.train_tasks]
            model = self._model(len(cols))
            self.training["multitask"] = pretrain_multitask(model, self.batch_of, self.table.targets[:, cols], c.pretrain_epochs,
                                                            lr=c.pretrain_lr, seed=c.seed, log=self.log,
                                                            lengths=self.dataset.lengths)  # fmt: skip
            self._multitask_features = self._all_features(model)
        return head_scorer(self._multitask_features) if method == "finetune" else prototype_scorer(self._multitask_features)

    def run(self, on_method: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Every configured method on the same episodes; `on_method(results)` after each (incremental writing)."""
        c = self.config
        results: dict[str, Any] = {"data": self.describe(), "methods": {}, "training": self.training}
        for method in c.methods:
            start = time.perf_counter()
            score = self.scorers(method)
            fit_s = time.perf_counter() - start
            per_k = {}
            for k, episodes in self.episodes.items():
                aucs = [episode_auc(ep.query_y, score(ep)) for ep in episodes]
                per_k[str(k)] = {**summarise(aucs, [ep.task for ep in episodes], c.bootstrap, c.seed), "aucs": [round(a, 4) for a in aucs]}
            results["methods"][method] = {"per_k": per_k, "train_seconds": round(fit_s, 1),
                                          "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
            if on_method is not None:
                on_method(results)
        return results

    def describe(self) -> dict[str, Any]:
        """Tasks, their label counts and the episode sizes, for the results file."""
        s = self.sampler
        first = {k: eps[0] for k, eps in self.episodes.items()}
        return {"dataset": self.config.data, "molecules": len(self.table), "train_tasks": s.train_tasks, "test_tasks": s.test_tasks,
                "test_task_counts": {t: dict(zip(("positives", "negatives"), s.counts(t))) for t in s.test_tasks},
                "queries_per_episode_first_task": {str(k): int(len(ep.query)) for k, ep in first.items()},
                "vocabulary": len(self.vocab)}  # fmt: skip
