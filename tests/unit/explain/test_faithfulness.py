"""Faithfulness on a tiny model trained where the answer is known: class 1 <=> a bump in steps 10-19. Integrated
Gradients must find the bump (deletion falls faster than for random orderings), and must change when the trained
weights are replaced by random ones (Adebayo et al.'s randomisation check)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medrnn.data.batch import make_batch
from medrnn.explain.faithfulness import area, cell_masks, curve, randomized_model, rank_correlation
from medrnn.explain.inputs import ExplainInput
from medrnn.explain.methods import attribute, random_attribution
from medrnn.models import build_model

T = 40


def bump_data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.randn(n, T, 1, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    x[y == 1, 10:20, 0] += 1.5
    return x, y


@pytest.fixture(scope="module")
def trained() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("lstm", input_size=1, num_classes=2, hidden_size=16, attention=False, head_hidden=0, dropout=0.0)
    x, y = bump_data(256, 0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(make_batch(x)).logits, y).backward()
        opt.step()
    model.eval()
    xt, yt = bump_data(64, 1)
    assert (model(make_batch(xt)).logits.argmax(1) == yt).float().mean() > 0.95  # it learned the bump
    return model


def positives() -> list[ExplainInput]:
    x, y = bump_data(32, 2)
    return [ExplainInput(f"s{i}", make_batch(x[i : i + 1]), ("time", "lead"), T) for i in np.flatnonzero(y.numpy() == 1)[:8]]


def test_integrated_gradients_finds_the_bump_and_beats_random_deletion(trained: torch.nn.Module) -> None:
    ig_areas, random_areas, in_bump = [], [], []
    for inp in positives():
        a = attribute(trained, inp, 1, "ig")
        in_bump.append(a[10:20].sum() / np.abs(a).sum())
        ig_areas.append(area(curve(trained, inp, 1, a, "multiclass")))
        random_areas.append(np.mean([area(curve(trained, inp, 1, random_attribution(inp, s), "multiclass")) for s in range(3)]))
    assert np.median(in_bump) > 0.5  # most of the attribution lies on the steps that decide the class
    assert np.mean(ig_areas) < np.mean(random_areas) - 0.1


def test_attributions_change_when_the_weights_are_randomised(trained: torch.nn.Module) -> None:
    random_model = randomized_model(trained, seed=3)
    corr = [rank_correlation(attribute(trained, inp, 1, "ig"), attribute(random_model, inp, 1, "ig")) for inp in positives()]
    assert np.mean(corr) < 0.5
    same = [rank_correlation(attribute(trained, inp, 1, "ig"), attribute(trained, inp, 1, "ig")) for inp in positives()[:2]]
    assert min(same) > 0.99  # the measure itself can tell identical attributions


def test_deletion_masks_remove_the_top_cells_first_and_only_present_ones() -> None:
    present = np.array([[1, 0], [1, 1], [0, 0], [1, 0]], bool)
    inp = ExplainInput("s", make_batch(torch.zeros(1, 4, 2)), ("hour", "variable"), 4, present=present)
    a = np.arange(8, dtype=float).reshape(4, 2)
    masks = cell_masks(inp, a, steps=4)
    assert masks.shape == (5, 4, 2) and not masks[0].any()
    assert masks[-1].sum() == 4 and not masks[-1][~inp.present].any()
    assert masks[1][3, 0]  # the highest-attributed present cell goes first
    inserted = cell_masks(inp, a, steps=4, insertion=True)
    assert inserted[0].sum() == 4 and not inserted[-1].any()
