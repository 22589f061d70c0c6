"""SMILES language-model pretraining (ELMo-style): the embedding and first recurrent layer learn to predict the
next token (forward direction) and the previous token (backward direction) on unlabelled SMILES, then the
property model starts from them. Only the first layer is pretrained: in a stacked bidirectional model the
second layer's forward input already contains the backward pass, which has seen the token to predict.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader

from medrnn import atomic, paths
from medrnn.data.batch import Batch
from medrnn.data.sampling import LengthBucketSampler
from medrnn.data.splits import random_split
from medrnn.errors import ConfigError
from medrnn.io.smiles import read_smiles_csv
from medrnn.models import create_model
from medrnn.models.base import RecurrentClassifier, reverse_padded
from medrnn.tasks.molecules.config import PretrainConfig, SmilesModelConfig, SmilesRunConfig, SmilesTrainConfig
from medrnn.tasks.molecules.data import EpochCallback, SmilesDataset, collate_tokens
from medrnn.tasks.molecules.spec import MOLECULENET, get_spec
from medrnn.train.fit import fit_module
from medrnn.train.losses import make_optimizer
from medrnn.transforms.smiles import Vocabulary, randomize_smiles, tokenize

log = logging.getLogger(__name__)
PRETRAINED_PREFIXES = ("embedding.", "forward_layers.0.", "backward_layers.0.")


class SmilesLanguageModel(nn.Module):
    """Next-token (and, when bidirectional, previous-token) prediction on top of a token-input encoder's first layer."""

    def __init__(self, encoder: RecurrentClassifier) -> None:
        super().__init__()
        if encoder.embedding is None:
            raise ConfigError("language-model pretraining needs a token-input model (vocab_size > 0)")
        self.encoder = encoder
        vocab_size, hidden = encoder.embedding.num_embeddings, encoder.forward_layers[0].hidden_size
        self.next_token = nn.Linear(hidden, vocab_size)
        self.prev_token = nn.Linear(hidden, vocab_size) if encoder.bidirectional else None

    def forward(self, batch: Batch) -> torch.Tensor:
        """Mean cross-entropy over the real tokens of <bos> SMILES <eos>; steps past each length are ignored."""
        x = self.encoder.embedding(batch.x)  # (batch, time, embedding)
        real = torch.arange(batch.x.shape[1], device=batch.x.device)[None, :] < batch.lengths[:, None]
        out, _ = self.encoder.forward_layers[0](x)  # (batch, time, hidden)
        loss = self._next_token_loss(self.next_token(out[:, :-1]), batch.x, real)  # step t predicts token t+1
        if self.prev_token is not None:
            back, _ = self.encoder.backward_layers[0](reverse_padded(x, batch.lengths))
            reversed_ids = reverse_padded(batch.x.unsqueeze(-1), batch.lengths).squeeze(-1)
            loss = (loss + self._next_token_loss(self.prev_token(back[:, :-1]), reversed_ids, real)) / 2
        return loss

    @staticmethod
    def _next_token_loss(logits: torch.Tensor, ids: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        target = torch.where(real[:, 1:], ids[:, 1:], torch.full_like(ids[:, 1:], -100))  # -100: ignored by cross_entropy
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)


class LanguageModelModule(L.LightningModule):
    """Trains a SmilesLanguageModel; logs train_lm_loss and val_loss (mean next/previous-token cross-entropy)."""

    def __init__(self, lm: SmilesLanguageModel, config: SmilesTrainConfig) -> None:
        super().__init__()
        self.lm, self.config = lm, config

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = self.lm(batch)
        self.log("train_lm_loss", loss, prog_bar=True, batch_size=batch.x.shape[0])
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self.log("val_loss", self.lm(batch), prog_bar=True, batch_size=batch.x.shape[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_optimizer(self.lm.parameters(), self.config)


def corpus_smiles(config: PretrainConfig, exclude: Sequence[str]) -> list[str]:
    """Unique canonical SMILES of the corpus, minus every molecule in `exclude` (the dataset being trained)."""
    names = [n for c in config.corpus for n in (MOLECULENET if c.lower() == "moleculenet" else [c])]
    found: set[str] = set()
    for name in names:
        if name.lower() in MOLECULENET:
            spec = get_spec(name)
            table, _ = read_smiles_csv(paths.data_file(spec.file), (), spec.smiles_column)
        else:
            table, _ = read_smiles_csv(name)
        found.update(table.smiles)
    return sorted(found - set(exclude))


def pretrain_encoder(
    model_config: SmilesModelConfig, config: PretrainConfig, exclude: Sequence[str], train_config: SmilesTrainConfig, seed: int = 0
) -> tuple[dict[str, torch.Tensor], Vocabulary, dict[str, float]]:
    """Pretrained embedding + first-layer weights and the corpus vocabulary; cached by corpus, configs and seed."""
    corpus = corpus_smiles(config, exclude)
    if len(corpus) < 100:
        raise ConfigError(f"pretraining corpus has {len(corpus)} molecules after removing the training dataset's; expected >= 100")
    # `freeze` acts on fine-tuning only: a frozen and an unfrozen run share one LM (and its cache entry); the optimiser
    # settings the LM is trained with are part of the key (they once were not, and a cached LM could stand for another)
    lm_key = config.model_copy(update={"freeze": False}).model_dump()
    optimiser = train_config.model_dump(include={"optimizer", "momentum", "weight_decay", "deterministic"})
    key = hashlib.sha256(
        json.dumps(
            [hashlib.sha256("\n".join(corpus).encode()).hexdigest(), model_config.model_dump(), lm_key, optimiser, seed], sort_keys=True
        ).encode()  # fmt: skip
    ).hexdigest()[:16]
    folder = paths.cache_dir() / "smiles_lm" / key
    if (folder / "encoder.safetensors").exists():
        info = json.loads((folder / "info.json").read_text())
        return load_file(folder / "encoder.safetensors"), Vocabulary.from_state(info["vocabulary"]), info["stats"]

    L.seed_everything(seed, workers=True, verbose=False)
    token_lists = [tokenize(s) for s in corpus] + [tokenize(r) for i, s in enumerate(corpus[::4]) for r in randomize_smiles(s, 1, i)]
    vocab = Vocabulary().fit(token_lists)
    cfg = model_config.model_dump()
    name = cfg.pop("name")
    encoder = create_model(name, input_size=cfg["embedding_dim"], num_classes=1, vocab_size=len(vocab), **cfg)
    split = random_split(len(corpus), (0.95, 0.05, 0.0), seed)
    train_set = SmilesDataset([corpus[i] for i in split.train], None, vocab, augment=True, seed=seed, bos_eos=True)
    val_set = SmilesDataset([corpus[i] for i in split.val], None, vocab, bos_eos=True)
    sampler = LengthBucketSampler(train_set.lengths, config.batch_size, seed=seed)
    lm_train = train_config.model_copy(update={"lr": config.lr, "max_epochs": config.epochs, "patience": config.epochs, "seed": seed})
    module = LanguageModelModule(SmilesLanguageModel(encoder), lm_train)
    fit = fit_module(
        module,
        DataLoader(train_set, batch_sampler=sampler, collate_fn=collate_tokens),
        DataLoader(val_set, batch_sampler=LengthBucketSampler(val_set.lengths, 256, shuffle=False), collate_fn=collate_tokens),
        lm_train, folder, "val_loss", "min", callbacks=[EpochCallback(train_set, sampler)],  # enumeration as in fine-tuning
    )  # fmt: skip
    weights = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items() if k.startswith(PRETRAINED_PREFIXES)}
    stats = {"corpus_molecules": len(corpus), "epochs": fit.epochs, "best_val_lm_loss": float(fit.best_score),
             "seconds": fit.seconds, "val_perplexity": float(np.exp(fit.best_score))}  # fmt: skip
    # info.json first, the encoder last: the encoder's presence marks a complete cache entry; each file lands whole
    atomic.write_text(folder / "info.json", json.dumps({"vocabulary": vocab.state_dict(), "stats": stats}))
    with atomic.atomic_path(folder / "encoder.safetensors") as tmp:
        save_file(weights, tmp)
    log.info("pretrained SMILES encoder on %d molecules: val perplexity %.2f", len(corpus), stats["val_perplexity"])
    return weights, vocab, stats


def load_pretrained(model: nn.Module, weights: dict[str, torch.Tensor], freeze: bool, tokens: list[str] | None = None) -> None:
    """Copy pretrained embedding/first-layer weights into `model` (the transfer mechanism of `--init-from`: by name,
    embedding rows by token; without `tokens` the model and the weights share one vocabulary); with `freeze`, keep
    them fixed (`--freeze 1`)."""
    from medrnn.train.transfer import copy_encoder, frozen_names
    from medrnn.train.transfer import freeze as freeze_names

    missing = [k for k in weights if k not in model.state_dict()]
    if missing:
        raise ConfigError(f"pretrained weights {missing[:3]} do not fit the model; pretrain with the same model config")
    if tokens is None and "embedding.weight" in weights:
        tokens = [str(i) for i in range(weights["embedding.weight"].shape[0])]  # one vocabulary: row i is row i
    copy_encoder(model, weights, tokens, tokens, "SMILES language model")
    if freeze:
        freeze_names(model, frozen_names(model, "1"))


def write_pretrained(config: SmilesRunConfig, exclude: Sequence[str], out: Path) -> dict[str, Any]:
    """`medrnn pretrain molecules`: the language model's encoder as an artifact that `--init-from` reads (only the
    pretrained embedding and first layer move; the corpus never holds a molecule of `exclude`)."""
    from medrnn.artifact import save_artifact
    from medrnn.models import build_model
    from medrnn.tasks.molecules.pipeline import SmilesPipeline

    weights, vocab, stats = pretrain_encoder(config.model, config.pretrain, exclude, config.train, config.train.seed)
    model = build_model(config.model.name, config.model, input_size=config.model.embedding_dim, num_classes=1, vocab_size=len(vocab))
    load_pretrained(model, weights, False, vocab.tokens_)
    pipeline = SmilesPipeline(vocab, None, "classification", 0, ["language_model"], config.train.seed)
    corpus = corpus_smiles(config.pretrain, exclude)
    save_artifact(out / "model", model, pipeline.state_dict(), ["language_model"], corpus,
                  extra={"task": "molecules", "config": config.model_dump(mode="json"),
                         "transfer": {"parameters": sorted(weights), "pretrain": stats}})  # fmt: skip
    return {"artifact": str(out / "model"), "parameters": sorted(weights), **stats}
