"""Is an attribution faithful to the model? Deletion and insertion curves (Petsiuk et al. 2018, RISE) and the
model-randomisation sanity check (Adebayo et al. 2018).

deletion   remove the most-attributed cells first (set to the task's "absent" baseline: 0 after standardisation,
           the pad token) and follow the explained output; a faithful ordering makes it fall fast (low area)
insertion  start from all cells removed and put the most-attributed back first; a faithful ordering rises fast
random     the same curves for random orderings: the bar an attribution must clear
sanity     Spearman rank correlation of |attribution| between the trained model and the same architecture with
           re-initialised weights; a method that explains the model, not the input, must give a low correlation

Cells are the attribution's cells (time x lead, hour x variable, token ...); where the task marks which cells hold
data (`present`: codes in a visit, observed ICU values) only those are removed. Written here rather than taken from
Quantus: Quantus works on image-shaped arrays and has no notion of token inputs or of a task's baseline.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from medrnn.explain.inputs import ExplainInput
from medrnn.explain.methods import forward_fn

STEPS = 20  # points of a curve: 0 %, 5 %, ..., 100 % of the cells removed (or inserted)


def output_of(logits: torch.Tensor, output_kind: str) -> torch.Tensor:
    """Logits -> what a user reads: softmax, sigmoid, or the value itself (regression)."""
    if output_kind == "multiclass":
        return torch.softmax(logits.double(), dim=-1)
    if output_kind in ("binary", "multilabel"):
        return torch.sigmoid(logits.double())
    return logits.double()


def cell_masks(inp: ExplainInput, attribution: np.ndarray, steps: int = STEPS, insertion: bool = False) -> np.ndarray:
    """(steps + 1, *shape) bool: the cells removed at each point, most-attributed first (insertion: all but those)."""
    present = np.ones(inp.shape, dtype=bool) if inp.present is None else np.asarray(inp.present, dtype=bool)
    cells = np.flatnonzero(present.ravel())
    order = cells[np.argsort(-np.asarray(attribution, dtype=np.float64).ravel()[cells], kind="stable")]
    masks = np.zeros((steps + 1, present.size), dtype=bool)
    for k in range(steps + 1):
        chosen = order[: round(k / steps * len(order))]
        if insertion:  # removed: every present cell not yet inserted
            masks[k, cells] = True
            masks[k, chosen] = False
        else:
            masks[k, chosen] = True
    return masks.reshape(steps + 1, *inp.shape)


def expand(inp: ExplainInput, masks: np.ndarray) -> torch.Tensor:
    """Cell masks on the task's axes -> masks on the attributed part of x (padding never touched)."""
    x = inp.attributed()
    full = np.zeros((masks.shape[0], *x.shape[1:]), dtype=bool)
    if inp.tokens or inp.groups is None:
        full[:, : inp.length] = masks
    else:
        full[:, : inp.length] = masks[:, :, inp.groups]
    return torch.from_numpy(full).to(x.device)


@torch.no_grad()
def curve(model: nn.Module, inp: ExplainInput, target: int, attribution: np.ndarray, output_kind: str,
          insertion: bool = False, steps: int = STEPS) -> np.ndarray:  # fmt: skip
    """The explained output at each point of the deletion (or insertion) curve; regression outputs are rescaled so
    that the full input is 1 and the all-removed input 0."""
    model.eval()
    remove = expand(inp, cell_masks(inp, attribution, steps, insertion))
    x = inp.attributed()
    variants = torch.where(remove, torch.as_tensor(inp.baseline, dtype=x.dtype, device=x.device), x.expand_as(remove))
    f = forward_fn(model, inp)
    values = torch.cat([output_of(f(chunk), output_kind)[:, target] for chunk in variants.split(32)]).cpu().numpy()
    if output_kind == "regression":
        full, empty = (values[0], values[-1]) if not insertion else (values[-1], values[0])
        values = (values - empty) / (full - empty) if abs(full - empty) > 1e-12 else np.ones_like(values)
    return values


def area(values: np.ndarray) -> float:
    """Area under a curve sampled at evenly spaced fractions of 0..1."""
    return float(np.trapezoid(values, dx=1.0 / (len(values) - 1)))


def randomized_model(model: nn.Module, seed: int = 0) -> nn.Module:
    """The same architecture with every layer re-initialised (the cascading check's last step, all layers at once)."""
    clone = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in clone.modules():
        if hasattr(module, "reset_parameters") and module is not clone:
            module.reset_parameters()
    return clone.eval()


def rank_correlation(a: np.ndarray, b: np.ndarray, cells: np.ndarray | None = None) -> float:
    """Spearman correlation of |a| and |b| over their cells, or over `cells` only (the cells holding data: an absent
    code's or unobserved value's attribution is 0 under any model, and those ties would fake agreement); 0 when
    either is constant."""
    a, b = np.abs(np.asarray(a, dtype=np.float64)), np.abs(np.asarray(b, dtype=np.float64))
    if cells is not None:
        keep = np.asarray(cells, dtype=bool)
        a, b = a[keep], b[keep]
    a, b = a.ravel(), b.ravel()
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def faithfulness(model: nn.Module, inp: ExplainInput, target: int, attribution: np.ndarray, method: str, output_kind: str,
                 n_random: int = 3, random_model: nn.Module | None = None) -> dict[str, float]:  # fmt: skip
    """Deletion and insertion areas of `attribution` and of `n_random` random orderings (mean), and the rank correlation
    of the method's attribution on the trained and on a re-initialised model (the sanity check)."""
    from medrnn.explain.methods import attribute, random_attribution

    randoms = [random_attribution(inp, seed) for seed in range(n_random)]
    out: dict[str, float] = {}
    for name, insertion in (("deletion", False), ("insertion", True)):
        out[f"{name}_auc"] = area(curve(model, inp, target, attribution, output_kind, insertion))
        out[f"{name}_auc_random"] = float(np.mean([area(curve(model, inp, target, r, output_kind, insertion)) for r in randoms]))
    random_model = random_model if random_model is not None else randomized_model(model)
    out["sanity_rank_corr"] = rank_correlation(attribution, attribute(random_model, inp, target, method), inp.present)
    return out


__all__ = ["STEPS", "faithfulness", "area", "cell_masks", "curve", "output_of", "randomized_model", "rank_correlation"]
