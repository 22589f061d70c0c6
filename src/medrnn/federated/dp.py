"""Differential privacy on each site: Opacus DP-SGD (per-sample clipping + Gaussian noise, Poisson-sampled batches) and
its RDP accountant, planned so that a site spends at most its target ε over *all* rounds.

Per site with n training samples and batch size B: sample rate q = B / n, δ = 1 / n, steps per round =
local epochs x int(1/q) (Opacus' Poisson sampler), and the noise multiplier σ is Opacus' `get_noise_multiplier` for the
target ε after `rounds` rounds of those steps. The accountant's ε after round r is the RDP bound for r rounds' steps at
(σ, q) - RDP composes over steps, so a site needs no state between rounds (a simulated site may run in another worker).

Terms that do not touch the data (FedProx's (mu/2)||w - w_global||^2, the L1 penalty) are not clipped or noised: their
gradients are added after Opacus has privatised the data gradient (post-processing keeps the guarantee). Weight decay is
the optimiser's, as without DP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from opacus.accountants import RDPAccountant
from opacus.accountants.utils import get_noise_multiplier
from opacus.grad_sample import GradSampleModule
from opacus.optimizers import DPOptimizer
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch import nn
from torch.utils.data import DataLoader

from medrnn.errors import ConfigError


@dataclass(frozen=True)
class DPSettings:
    """What the server asks of every site: the target ε over all `rounds`, and the per-sample clipping norm C."""

    epsilon: float
    max_grad_norm: float
    rounds: int


@dataclass(frozen=True)
class DPPlan:
    """One site's DP-SGD settings for the whole federation (JSON-ready with `describe`)."""

    site: str
    n_train: int
    batch_size: int
    target_epsilon: float
    delta: float
    max_grad_norm: float
    sample_rate: float
    steps_per_round: int
    rounds: int
    noise_multiplier: float

    def epsilon(self, rounds_done: int) -> float:
        """The RDP accountant's ε at δ after `rounds_done` rounds of `steps_per_round` noisy steps."""
        if rounds_done <= 0:
            return 0.0
        accountant = RDPAccountant()
        accountant.history = [(self.noise_multiplier, self.sample_rate, rounds_done * self.steps_per_round)]
        return float(accountant.get_epsilon(delta=self.delta))

    def describe(self) -> dict[str, Any]:
        """The plan as a dict (metrics.json federated.dp.sites)."""
        return asdict(self)


def plan_dp(site: str, n_train: int, batch_size: int, local_epochs: int, rounds: int, target_epsilon: float,
            max_grad_norm: float) -> DPPlan:  # fmt: skip
    """σ for `target_epsilon` at δ = 1/n over all rounds of a site's local steps; a site smaller than a batch is refused."""
    if target_epsilon <= 0 or max_grad_norm <= 0:
        raise ConfigError(f"--dp-epsilon {target_epsilon} and --dp-max-grad-norm {max_grad_norm} must both be > 0")
    if n_train <= batch_size:
        raise ConfigError(f"site {site}: {n_train} training samples, not more than DP-SGD's batch size {batch_size} (each "
                          f"sample joins a batch with probability batch size / n, which must be < 1); lower --set "
                          f"train.batch_size, or leave the site out with --min-site-train {batch_size + 1}")  # fmt: skip
    q = batch_size / n_train
    steps = local_epochs * int(1 / q)
    delta = 1.0 / n_train
    sigma = get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta, sample_rate=q, steps=rounds * steps,
                                 accountant="rdp")  # fmt: skip
    return DPPlan(site, n_train, batch_size, target_epsilon, delta, max_grad_norm, q, steps, rounds, float(sigma))


def _collate_or_none(collate: Any) -> Any:
    """The task's collate, or None for an empty Poisson batch (handled as a noise-only step)."""

    def wrapped(items: list[Any]) -> Any:
        return collate(items) if items else None

    return wrapped


def poisson_loader(loader: DataLoader, plan: DPPlan, generator: torch.Generator) -> DataLoader:
    """The task's training loader re-batched by Poisson sampling at rate q (what the accountant assumes)."""
    sampler = UniformWithReplacementSampler(num_samples=len(loader.dataset), sample_rate=plan.sample_rate,  # type: ignore[arg-type]
                                            generator=generator)  # fmt: skip
    return DataLoader(loader.dataset, batch_sampler=sampler, collate_fn=_collate_or_none(loader.collate_fn))


class PrivateTrainer:
    """DP-SGD for one site and round: Opacus per-sample gradients (GradSampleModule), clipping and noise (DPOptimizer).

    Use: `for batch in trainer.batches(loader)`: loss on the data only -> `trainer.step(loss, public_loss)` where
    `public_loss` (or None) holds the data-independent terms (proximal, L1).
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, plan: DPPlan, seed: int, rounds_before: int) -> None:
        self.plan, self.model = plan, model
        self.module = GradSampleModule(model, batch_first=True, loss_reduction="mean", strict=True)
        noise = torch.Generator().manual_seed(seed)
        self.optimizer = DPOptimizer(optimizer, noise_multiplier=plan.noise_multiplier, max_grad_norm=plan.max_grad_norm,
                                     expected_batch_size=max(1, round(plan.sample_rate * plan.n_train)), generator=noise)  # fmt: skip
        self.accountant = RDPAccountant()
        if rounds_before > 0:
            self.accountant.history = [(plan.noise_multiplier, plan.sample_rate, rounds_before * plan.steps_per_round)]
        self.optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=plan.sample_rate))
        self.sampling = torch.Generator().manual_seed(seed + 1)

    def batches(self, loader: DataLoader) -> Iterator[Any]:
        """Poisson-sampled batches of the loader's dataset (None for an empty one: call `step(None)`)."""
        yield from poisson_loader(loader, self.plan, self.sampling)

    def step(self, loss: torch.Tensor | None, public_loss: torch.Tensor | None = None) -> None:
        """Clip each sample's gradient of `loss`, add noise (an empty batch: noise only), add `public_loss`'s gradient, step."""
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer.zero_grad(set_to_none=True)
        if loss is None:
            for p in params:
                p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
        else:
            loss.backward()
            unseen = [n for n, p in self.model.named_parameters() if p.requires_grad and p.grad_sample is None]
            if unseen:
                raise ConfigError(f"model {getattr(self.model, 'name', type(self.model).__name__)!r}: Opacus computed no "
                                  f"per-sample gradient for {', '.join(unseen[:5])} (used outside a layer's forward); "
                                  "DP-SGD cannot clip them; give them a layer (see federated/dp_models.py) "
                                  "or train without DP")  # fmt: skip
        if not self.optimizer.pre_step():  # per-sample clip, noise, accountant step
            return
        if public_loss is not None and public_loss.requires_grad:
            extra = torch.autograd.grad(public_loss, params, allow_unused=True)
            for p, g in zip(params, extra):
                if g is not None:
                    p.grad = p.grad + g
        self.optimizer.original_optimizer.step()

    def epsilon(self) -> float:
        """The accountant's ε at the plan's δ after every step so far (this round and the rounds before)."""
        return float(self.accountant.get_epsilon(delta=self.plan.delta)) if self.accountant.history else 0.0

    def close(self) -> nn.Module:
        """Remove Opacus' hooks; returns the trained model."""
        self.module.cleanup()
        return self.model
