"""Attribution methods on one ExplainInput: Captum does the arithmetic; this module only wires a task's batch to it.

ig             Integrated Gradients (Sundararajan et al. 2017) from the task's "absent" baseline; token input: at the
               embedding output (LayerIntegratedGradients) from the pad token, so the path never leaves embedding space
occlusion      feature ablation over windows of `occlusion_window` steps (per second-axis group; at most MAX_WINDOWS
               windows along the first axis): the output's drop when a window is set to the baseline, spread evenly
               over the window's cells
gradient_shap  expected gradients over noisy baselines (Lundberg & Lee 2017); token input: at the embedding output
attention      the model's own read-out: attention pooling weights mapped back onto input steps, label attention of the
               explained code, or RETAIN's exact additive contributions where the model gives them

Every method returns the attribution folded onto the task's axes: (length,) for tokens, (length, groups) otherwise.
On CUDA, recurrent backward passes in eval mode fail in cuDNN (Captum issues #564, #1159): attributions there run with
cuDNN disabled for the call, so the model stays in eval mode (no dropout) and the user needs to do nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from medrnn.data.batch import Batch
from medrnn.errors import ConfigError
from medrnn.explain.inputs import ExplainInput

METHODS = ("ig", "occlusion", "gradient_shap", "attention")
DEFAULT_METHOD = "ig"
MAX_WINDOWS = 128  # occlusion windows along the first axis at most (a 60 s record or a 2,500-token note: wider windows)
IG_STEPS = 32  # Riemann steps of the IG path; the completeness gap is recorded in the benchmark (tests check it at 64)


def check_method(method: str) -> str:
    """The method name, or a ConfigError naming the valid ones."""
    if method not in METHODS:
        raise ConfigError(f"unknown explanation method {method!r}; valid: {', '.join(METHODS)}")
    return method


def forward_fn(model: nn.Module, inp: ExplainInput) -> Callable[[torch.Tensor], torch.Tensor]:
    """x (n, ...) -> logits (n, outputs): the sample's batch with x (its attributed features) replaced; Captum expands x
    along the batch. Token ids that a method made float (feature ablation, noise) are rounded back to ids."""
    b = inp.batch
    columns = None if inp.features is None or inp.tokens else torch.as_tensor(inp.features, device=b.x.device)

    def forward(x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if inp.tokens and x.dtype != torch.long:
            x = x.round().long()
        if columns is not None:  # put the attributed features back among the fixed ones
            full = b.x.expand(n, *b.x.shape[1:]).clone()
            full[..., columns] = x
            x = full
        static = None if b.static is None else b.static.expand(n, -1)
        present = None if b.present is None else b.present.expand(n, -1)
        batch = Batch(x, b.lengths.expand(n), b.mask.expand(n, -1), None, torch.arange(n, device=x.device), static, present)
        return model(batch).logits

    return forward


@contextlib.contextmanager
def gradients_through_rnns(model: nn.Module) -> Iterator[None]:
    """Eval mode with gradients; cuDNN off on CUDA, whose RNN backward refuses eval mode."""
    model.eval()
    cuda = next(model.parameters()).is_cuda
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=not cuda):
        yield


@contextlib.contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Captum's sampling methods draw from the global torch and numpy generators: seed both for the call, then put the
    caller's states back, so the same input always gets the same attribution."""
    state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            np.random.seed(seed)
            yield
    finally:
        np.random.set_state(state)


def embedding_layer(model: nn.Module) -> nn.Module:
    """The token embedding the token-input attributions are taken at."""
    layer = getattr(model, "embedding", None)
    if not isinstance(layer, nn.Embedding):
        raise ConfigError(f"model {type(model).__name__} reads token ids but has no `embedding` (nn.Embedding) to attribute at")
    return layer


def fold(raw: np.ndarray, inp: ExplainInput) -> np.ndarray:
    """Attribution on the model input (time, features) or (time, embedding) -> the task's axes, padding cut."""
    raw = np.asarray(raw, dtype=np.float64)[: inp.length]
    if inp.tokens:
        return raw.sum(axis=-1) if raw.ndim == 2 else raw
    if inp.groups is None:
        return raw
    out = np.zeros(inp.shape)
    np.add.at(out.T, inp.groups, raw.T)  # sum the features of each group (value + mask channels of one variable)
    return out


def attribute(model: nn.Module, inp: ExplainInput, target: int, method: str, n_steps: int = IG_STEPS) -> np.ndarray:
    """The attribution of output `target` for one sample by `method`, on the task's axes."""
    check_method(method)
    if method == "attention":
        return attention_readout(model, inp, target)
    from captum.attr import FeatureAblation, GradientShap, IntegratedGradients, LayerGradientShap, LayerIntegratedGradients

    f = forward_fn(model, inp)
    x = inp.attributed()
    with gradients_through_rnns(model):
        if method == "occlusion":
            mask, sizes = occlusion_mask(inp)
            base = 0 if inp.tokens else inp.baseline
            raw = FeatureAblation(f).attribute(x, baselines=base, target=target, feature_mask=mask, perturbations_per_eval=16)
            raw = raw.detach().double() / sizes  # the window's effect, spread over its cells
            return fold(raw[0].cpu().numpy(), inp)
        if inp.tokens:
            pad = torch.zeros_like(x)
            layer = embedding_layer(model)
            if method == "ig":
                lig = LayerIntegratedGradients(f, layer)
                raw = lig.attribute(x, baselines=pad, target=target, n_steps=n_steps, internal_batch_size=n_steps)
            else:
                with seeded():
                    raw = LayerGradientShap(f, layer).attribute(x, baselines=torch.cat([pad, pad]), target=target, n_samples=16, stdevs=0.0)
        elif method == "ig":
            base = torch.full_like(x, inp.baseline)
            raw = IntegratedGradients(f).attribute(x, baselines=base, target=target, n_steps=n_steps, internal_batch_size=n_steps)
        else:
            generator = torch.Generator(device="cpu").manual_seed(0)
            noise = torch.randn((8, *x.shape[1:]), generator=generator).to(x) * 0.5
            with seeded():
                raw = GradientShap(f).attribute(x, baselines=inp.baseline + noise, target=target, n_samples=16, stdevs=0.05)
    return fold(raw[0].detach().cpu().numpy(), inp)


def occlusion_mask(inp: ExplainInput) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature-ablation groups: windows of `occlusion_window` steps (x one group of the second axis), and each cell's
    group size. Padding steps, and cells the task marks as holding no data, share one group (their effect is ~0)."""
    x = inp.attributed()
    steps = torch.arange(x.shape[1], device=x.device)
    width = max(inp.occlusion_window, 1, -(-inp.length // MAX_WINDOWS))  # long inputs: wider windows, bounded cost
    window = torch.div(steps, width, rounding_mode="floor")
    window = torch.where(steps < inp.length, window, window.max() + 1)
    if inp.tokens:
        mask = window[None]
    else:
        groups = torch.as_tensor(inp.groups if inp.groups is not None else np.arange(x.shape[2]), device=x.device)
        mask = (window[:, None] * (int(groups.max()) + 1) + groups[None, :])[None]  # (1, time, features)
        if inp.present is not None:  # cells without data: one shared group (removing them changes nothing)
            present = torch.zeros(x.shape[1], inp.shape[1], dtype=torch.bool, device=x.device)
            present[: inp.length] = torch.as_tensor(inp.present, device=x.device)
            mask = torch.where(present[:, groups][None], mask, -1)
    mask = torch.unique(mask, return_inverse=True)[1]  # consecutive ids, as Captum expects
    sizes = torch.bincount(mask.flatten())[mask].to(torch.float64)
    return mask, sizes


@torch.no_grad()
def attention_readout(model: nn.Module, inp: ExplainInput, target: int) -> np.ndarray:
    """The model's attention (or RETAIN's exact contributions) on the task's axes; refused for a model without it."""
    model.eval()
    out = model.explain(inp.batch) if callable(getattr(model, "explain", None)) else model(inp.batch)  # RETAIN: contributions
    if out.contributions is not None:  # RETAIN: exact additive decomposition of the logit (time, input features, outputs)
        return fold(out.contributions[0, :, :, target].cpu().numpy(), inp)
    if out.attention is None:
        raise ConfigError(f"method 'attention' does not apply: model {type(model).__name__} was trained without attention "
                          f"(valid for it: {', '.join(m for m in METHODS if m != 'attention')})")  # fmt: skip
    att = out.attention[0]
    if att.ndim == 2:  # label attention (classes, time): the explained code's row
        att = att[target]
    att = att.double().cpu().numpy()
    steps = inp.batch.x.shape[1]
    index = np.minimum(np.arange(steps) * len(att) // steps, len(att) - 1)  # input step -> encoder step (conv front-ends)
    per_step = att[index] * len(att) / steps  # a shortened step's weight shared by the input steps it covers
    per_step = per_step[: inp.length]
    if inp.tokens:
        return per_step
    width = inp.shape[1]
    return np.repeat(per_step[:, None] / width, width, axis=1)


def random_attribution(inp: ExplainInput, seed: int) -> np.ndarray:
    """A random ordering's stand-in attribution (the faithfulness baseline)."""
    return np.random.default_rng(seed).random(inp.shape)


__all__ = ["DEFAULT_METHOD", "METHODS", "attribute", "check_method", "fold", "forward_fn"]
