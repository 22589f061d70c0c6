"""Multimodal fusion: a patient's modalities (channel groups of one sequence, and static descriptors) fused early, by
concatenation, late or through a gate, with each modality allowed to be absent for a sample.

Modalities: the sequence x (batch, time, channels) is one modality, or several when `channel_groups` gives each channel's
modality (e.g. diagnosis codes and lab codes in one multi-hot visit); the static vector (batch, num_static) is the last
modality when num_static > 0. A sequence modality is read by any registered sequence model (`branch`: gru_d, gru, lstm,
retain, ...), the static one by a small MLP.

`fusion` picks how they meet (MedFuse and Huang et al. 2020's taxonomy):

    early   one branch reads everything: static values join every time step as extra inputs (for GRU-D: extra
            variables, observed at every step when present, so GRU-D's own missing-value machinery covers them)
    concat  one encoder per modality, embeddings concatenated -> head (joint / intermediate fusion)
    late    one encoder and one head per modality; logits averaged with learned weights
    gated   one encoder per modality, embeddings projected to one size; a learned gate (attention over modalities)
            weighs them -> head
    <name>  a modality's name ("series", "static", or a channel-group name): that modality alone, the baseline arms
            (a sample lacking it is read as its zeros, as a model of that modality alone would read it)

Missing modality (batch.present[b, m] == 0, or a modality dropped during training with `modality_dropout`):
early -> its inputs are zeros (GRU-D: unobserved); concat -> its embedding is a learned "missing" vector; late -> the
mean over the present modalities' logits; gated -> the gate's softmax runs over the present modalities only. With
`batch.present` None, a sequence group is absent when all its channels are 0 on every real step (unless all groups are:
an empty input is read as zeros by every branch), the static vector is present. A sample whose `batch.present` row is
all 0 is a ShapeError.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError, ShapeError
from medrnn.models.base import ContractModel, Encoded, head_layers
from medrnn.registry import MODELS

METHODS = ("early", "concat", "late", "gated")
BRANCH_ARGS = ("hidden_size", "num_layers", "bidirectional", "dropout", "attention", "attention_size", "embedding_dim")


def feature_size(branch: nn.Module) -> int:
    """Width of `branch.encode(...).features` (num_static = 0): the input width of its classifier."""
    head = branch.classifier
    first = head[0] if isinstance(head, nn.Sequential) else head
    if not isinstance(first, nn.Linear):
        raise ConfigError(f"fusion: branch {type(branch).__name__} has no linear classifier to read its feature size from")
    return int(first.in_features)


def make_branch(name: str, input_size: int, options: dict[str, Any]) -> tuple[nn.Module, int]:
    """A registered sequence model as an encoder (its own head removed) and its feature width."""
    from medrnn.models import create_model, model_arguments  # the registry imports this module

    if name == "fusion":
        raise ConfigError("fusion: branch='fusion' would nest fusion models; name a sequence model (gru_d, gru, lstm, retain)")
    valid = model_arguments(name)
    branch = create_model(name, input_size=input_size, num_classes=1, **{k: v for k, v in options.items() if k in valid})
    size = feature_size(branch)
    branch.classifier = nn.Identity()  # the fusion head decides; an unused head would hold parameters DDP waits for
    return branch, size


@MODELS.register("fusion")
class FusionClassifier(ContractModel):
    """Sequence modalities (any registered branch) + static descriptors, fused early / concat / late / gated."""

    name = "fusion"

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        num_static: int = 0,
        fusion: str = "gated",
        branch: str = "gru_d",
        channel_groups: list[int] | None = None,
        group_names: list[str] | None = None,
        hidden_size: int | list[int] = 64,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.3,
        attention: bool = False,
        attention_size: int = 32,
        embedding_dim: int = 64,
        head_hidden: int = 64,
        static_hidden: int = 32,
        modality_dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.config["name"] = self.name
        groups = list(channel_groups) if channel_groups is not None else [0] * input_size
        n_groups = max(groups) + 1 if groups else 0
        names = list(group_names) if group_names is not None else (["series"] if n_groups == 1 else [f"group{g}" for g in range(n_groups)])
        if len(groups) != input_size or sorted(set(groups)) != list(range(n_groups)):
            raise ConfigError(f"fusion: channel_groups must give each of the {input_size} channels a group 0..G-1 with every group used")
        if len(names) != n_groups or (num_static and "static" in names) or len(set(names)) != len(names):
            raise ConfigError(f"fusion: group_names {names} must name the {n_groups} channel groups once each, 'static' excluded")
        self.modalities = names + (["static"] if num_static else [])
        if fusion not in METHODS and fusion not in self.modalities:
            raise ConfigError(f"fusion={fusion!r}; valid: {', '.join(METHODS)} or one modality alone: {', '.join(self.modalities)}")
        # a branch whose input is [values | mask | delta] per variable (GRU-D) reads all variables together
        self.layout = getattr(MODELS.get(branch), "input_layout", "features") if branch in MODELS.names() else "features"
        if self.layout == "values_mask_delta" and n_groups > 1:
            raise ConfigError(f"fusion: branch {branch} reads [values | mask | delta] of all variables at once; it takes one channel group")
        if not 0 <= modality_dropout < 1:
            raise ConfigError(f"fusion: modality_dropout={modality_dropout} must be in [0, 1)")
        self.fusion, self.branch_name, self.num_static = fusion, branch, num_static
        self.input_size, self.num_groups, self.modality_dropout = input_size, n_groups, modality_dropout
        self.register_buffer("groups", torch.tensor(groups, dtype=torch.long), persistent=False)
        options = {"hidden_size": hidden_size, "num_layers": num_layers, "bidirectional": bidirectional, "dropout": dropout,
                   "attention": attention, "attention_size": attention_size, "embedding_dim": embedding_dim}  # fmt: skip
        used = self._used()
        self.branches = nn.ModuleList()
        sizes: list[int] = []
        if fusion == "early":
            extra = num_static * (3 if self.layout == "values_mask_delta" else 1)  # GRU-D: each descriptor a variable
            encoder, size = make_branch(branch, input_size + extra, options)
            self.branches.append(encoder)
            sizes.append(size)
        else:
            for g in range(n_groups):
                if used[g]:
                    encoder, size = make_branch(branch, groups.count(g), options)
                    self.branches.append(encoder)
                    sizes.append(size)
            if num_static and used[-1]:
                self.static_encoder = nn.Sequential(nn.Linear(num_static, static_hidden), nn.ReLU(), nn.Dropout(dropout))
                sizes.append(static_hidden)
        self.sizes = sizes
        if fusion == "concat":
            self.missing = nn.ParameterList([nn.Parameter(torch.zeros(s)) for s in sizes])
            self.classifier = head_layers(sum(sizes), head_hidden, num_classes, dropout)
        elif fusion == "late":
            self.classifier = nn.ModuleList([head_layers(s, head_hidden, num_classes, dropout) for s in sizes])
            self.late_weights = nn.Parameter(torch.zeros(len(sizes)))
        elif fusion == "gated":
            width = max(sizes)
            self.projections = nn.ModuleList([nn.Linear(s, width) for s in sizes])
            self.gate = nn.Sequential(nn.Linear(width, attention_size), nn.Tanh(), nn.Linear(attention_size, 1, bias=False))
            self.classifier = head_layers(width, head_hidden, num_classes, dropout)
        else:  # early, or one modality alone
            self.classifier = head_layers(sizes[0], head_hidden, num_classes, dropout)
        self.last_gates: torch.Tensor | None = None  # gated: (batch, modalities) weights of the latest forward, for inspection

    def _used(self) -> list[bool]:
        """Which modalities this fusion reads (all, or the one named)."""
        if self.fusion in METHODS:
            return [True] * len(self.modalities)
        return [m == self.fusion for m in self.modalities]

    def presence(self, batch: Batch) -> torch.Tensor:
        """(batch, modalities) 0/1: batch.present, or derived (a group with all-zero channels on real steps is absent)."""
        if batch.present is not None:
            present = batch.present.to(batch.x.dtype)
            if present.shape != (batch.x.shape[0], len(self.modalities)):
                raise ShapeError(f"fusion: present must be (batch, {len(self.modalities)}) for {self.modalities}, "
                                 f"got {tuple(present.shape)}")
            return present
        real = (torch.arange(batch.x.shape[1], device=batch.x.device)[None, :] < batch.lengths[:, None]).unsqueeze(-1)
        nonzero = ((batch.x != 0) & real).any(dim=1).to(batch.x.dtype)  # (batch, channels)
        one_hot = nn.functional.one_hot(self.groups, self.num_groups).to(batch.x.dtype)  # (channels, groups)
        groups = (nonzero @ one_hot > 0).to(batch.x.dtype)
        if self.num_groups == 1 and self.layout == "values_mask_delta":
            groups = torch.ones_like(groups)  # GRU-D reads an all-missing series as the training means: present unless said
        groups = torch.where(groups.sum(dim=1, keepdim=True) == 0, torch.ones_like(groups), groups)  # empty input: read as zeros
        parts = [groups] + ([batch.x.new_ones(batch.x.shape[0], 1)] if self.num_static else [])
        return torch.cat(parts, dim=1)

    def _drop(self, present: torch.Tensor) -> torch.Tensor:
        """Training only: drop each present modality with probability modality_dropout, never the last one of a sample."""
        if not self.training or self.modality_dropout == 0 or self.fusion not in METHODS or present.shape[1] < 2:
            return present
        keep = (torch.rand_like(present) >= self.modality_dropout).to(present.dtype) * present
        one = nn.functional.one_hot((torch.rand_like(present) * present).argmax(dim=1), present.shape[1]).to(present.dtype)
        return torch.where(keep.sum(dim=1, keepdim=True) == 0, one * present, keep)  # none left: one present modality stays

    def _sub_batch(self, batch: Batch, x: torch.Tensor) -> Batch:
        return batch._replace(x=x, static=None, present=None)

    def _group_x(self, batch: Batch, g: int) -> torch.Tensor:
        return batch.x[..., self.groups == g] if self.num_groups > 1 else batch.x

    def _early_input(self, batch: Batch, present: torch.Tensor) -> torch.Tensor:
        """x with every group's absent channels zeroed and the static values appended at every step."""
        x = batch.x
        if self.num_groups > 1:
            x = x * present[:, : self.num_groups].index_select(1, self.groups).unsqueeze(1)
        if not self.num_static:
            return x
        t = x.shape[1]
        on = present[:, -1:]  # (batch, 1)
        static = (batch.static * on).unsqueeze(1).expand(-1, t, -1)  # (batch, time, s)
        if self.layout != "values_mask_delta":
            return torch.cat([x, static], dim=-1)
        v = x.shape[2] // 3
        values, mask, delta = x[..., :v], x[..., v : 2 * v], x[..., 2 * v :]
        s_mask = on.unsqueeze(1).expand(-1, t, self.num_static)
        return torch.cat([values, static, mask, s_mask, delta, torch.zeros_like(static)], dim=-1)

    def _check(self, batch: Batch) -> None:
        if batch.x.ndim != 3 or batch.x.shape[2] != self.input_size:
            raise ShapeError(f"fusion: x must be (batch, time, {self.input_size}), got {tuple(batch.x.shape)}")
        if self.num_static and (batch.static is None or batch.static.shape[1] != self.num_static):
            got = None if batch.static is None else tuple(batch.static.shape)
            raise ShapeError(f"fusion: static must be (batch, {self.num_static}), got {got}")

    def embeddings(self, batch: Batch, present: torch.Tensor) -> tuple[list[torch.Tensor], list[int], torch.Tensor | None]:
        """Per read modality: its embedding, its index among the modalities, and the first branch's time attention."""
        used = [m for m, on in enumerate(self._used()) if on]
        out, attention = [], None
        for k, m in enumerate(used):
            if m < self.num_groups:
                encoded = self.branches[k].encode(self._sub_batch(batch, self._group_x(batch, m)))
                attention = encoded.attention if attention is None else attention
                out.append(encoded.features)
            else:
                out.append(self.static_encoder(batch.static))
        return out, used, attention

    def encode(self, batch: Batch) -> Encoded:
        self._check(batch)
        present = self._drop(self.presence(batch))
        if self.fusion == "early":
            encoded = self.branches[0].encode(self._sub_batch(batch, self._early_input(batch, present)))
            return Encoded(encoded.features, encoded.attention)
        parts, used, attention = self.embeddings(batch, present)
        on = present[:, used]  # (batch, read modalities)
        if self.fusion not in METHODS:  # one modality alone: an absent one is read as it comes (zeros), as a plain model would
            return Encoded(parts[0], attention)
        if (on.sum(dim=1) == 0).any():
            raise ShapeError(f"fusion: a sample has none of its modalities ({', '.join(self.modalities)}) present")
        if self.fusion == "concat":
            filled = [torch.where(on[:, k : k + 1] > 0, p, self.missing[k].expand_as(p)) for k, p in enumerate(parts)]
            return Encoded(torch.cat(filled, dim=-1), attention)
        if self.fusion == "late":
            return Encoded(torch.cat([p * on[:, k : k + 1] for k, p in enumerate(parts)] + [on], dim=-1), attention)
        projected = torch.stack([torch.tanh(proj(p)) for proj, p in zip(self.projections, parts)], dim=1)  # (batch, M, width)
        scores = self.gate(projected).squeeze(-1).masked_fill(on == 0, float("-inf"))  # (batch, M)
        gates = torch.softmax(scores, dim=1)
        self.last_gates = gates.detach()
        return Encoded((gates.unsqueeze(-1) * projected).sum(dim=1), attention)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        if self.fusion != "late":
            return self.classifier(features)
        n = len(self.sizes)
        on = features[:, -n:]  # (batch, M) presence carried at the end of the features
        chunks = features[:, :-n].split(self.sizes, dim=-1)
        logits = torch.stack([head(c) for head, c in zip(self.classifier, chunks)], dim=1)  # (batch, M, classes)
        weights = torch.softmax(self.late_weights, dim=0) * on  # (batch, M)
        weights = weights / weights.sum(dim=1, keepdim=True)
        return (weights.unsqueeze(-1) * logits).sum(dim=1)


__all__ = ["FusionClassifier", "METHODS"]
