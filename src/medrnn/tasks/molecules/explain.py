"""Molecules as ExplainInputs (SMILES tokens of the canonical SMILES) and their figure: the molecule drawn by RDKit
with each atom coloured by its token's attribution (red: pushed the output up, blue: down)."""

from __future__ import annotations

from typing import Any

import numpy as np

from medrnn.explain.inputs import ExplainInput
from medrnn.tasks.molecules.data import SmilesDataset, collate_tokens
from medrnn.transforms.smiles import is_atom_token, tokenize


def explain_inputs(pipeline: Any, table: Any, index: list[int]) -> list[ExplainInput]:
    """Each molecule's canonical SMILES as the model reads it (no test-time augmentation: one view is explained)."""
    smiles = [table.smiles[i] for i in index]
    dataset = SmilesDataset(smiles, None, pipeline.vocab, static=pipeline.static(smiles))
    ids = list(table.ids) if table.ids else [str(r) for r in table.rows]
    out = []
    for k, i in enumerate(index):
        batch = collate_tokens([dataset[k]])
        tokens = tokenize(smiles[k])
        atoms = np.cumsum([is_atom_token(t) for t in tokens]) - 1
        atom_of_token = [int(a) if is_atom_token(t) else -1 for t, a in zip(tokens, atoms)]
        out.append(ExplainInput(str(ids[i]), batch._replace(y=None), ("token",), int(batch.lengths[0]), axis_labels={"token": tokens},
                                context={"smiles": smiles[k], "atom_of_token": atom_of_token}))  # fmt: skip
    return out


def atom_weights(tokens: list[str], attribution: np.ndarray) -> np.ndarray:
    """Token attributions on atoms: the i-th atom token is RDKit's atom i (SMILES order); bonds, rings and branches,
    which are not atoms, are left out of the picture (their attribution stays in the JSON)."""
    return np.array([a for t, a in zip(tokens, attribution) if is_atom_token(t)], dtype=np.float64)


def draw_signed(smiles: str, weights: np.ndarray, legend: str = "", size: tuple[int, int] = (420, 320)) -> bytes | None:
    """PNG of the molecule with atoms coloured on the red-blue scale by signed weight; None where RDKit cannot place them."""
    from matplotlib import colormaps
    from rdkit import Chem, rdBase
    from rdkit.Chem.Draw import rdMolDraw2D

    from medrnn.explain.plots import CMAP, norm_of

    params = Chem.SmilesParserParams()
    params.removeHs = False
    blocker = rdBase.BlockLogs()
    mol = Chem.MolFromSmiles(smiles, params)
    del blocker
    if mol is None or mol.GetNumAtoms() != len(weights) or not hasattr(rdMolDraw2D, "MolDraw2DCairo"):
        return None
    norm, cmap = norm_of(weights), colormaps[CMAP]
    colors = {i: tuple(float(c) for c in cmap(norm(w))[:3]) for i, w in enumerate(weights)}
    drawer = rdMolDraw2D.MolDraw2DCairo(*size)
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, legend=legend, highlightAtoms=list(colors), highlightAtomColors=colors,
                                       highlightBonds=[])  # fmt: skip
    drawer.FinishDrawing()
    return bytes(drawer.GetDrawingText())


def molecule_figures(item: Any) -> list[tuple[str, Any]]:
    """One PNG per explained molecule and output (RDKit drawing), the token strip where RDKit cannot place atoms."""
    from medrnn.explain.plots import safe, title_of, token_text

    out: list[tuple[str, Any]] = []
    for e in item.explanations:
        tokens = list(e.axis_labels.get("token", []))
        for k, target in enumerate(e.targets):
            png = draw_signed(e.context.get("smiles", ""), atom_weights(tokens, e.attributions[k]), legend=title_of(e, k))
            name = f"{safe(e.item_id)}__{safe(e.sample_id)}__{safe(target)}"
            out.append((name, png if png is not None else token_text(e)))
    return out


__all__ = ["atom_weights", "draw_signed", "explain_inputs", "molecule_figures"]
