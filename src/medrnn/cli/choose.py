"""`medrnn choose`: pick among trained candidates (recipes, seeds, ensembles) on validation loss, never on test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def choose_command(
    candidates: list[str] = typer.Argument(..., help="Run folders, RUN/model folders or ensemble folders of one task and one split."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the choice and every candidate's validation loss as JSON."),
) -> None:
    """Score every candidate by the task's loss on the validation part of its own recorded data and split, and name the
    lowest. This is how the MoleculeNet headline model is chosen per split (docs/benchmarks.md).

    Examples:

        medrnn train smiles --data bace --out runs/bace

        medrnn train smiles --data bace --pretrain --out runs/bace-lm

        medrnn ensemble runs/bace runs/bace-lm --out runs/bace-ens

        medrnn choose runs/bace runs/bace-lm runs/bace-ens --out runs/bace-choice.json
    """
    from medrnn.selection import choose

    result = choose(candidates)
    for c in result["candidates"]:
        mark = "  <- chosen" if c["path"] == result["chosen"] else ""
        typer.echo(f"{c['path']}: validation loss {c['validation_loss']:.5f}{mark}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
        typer.echo(f"wrote {out}")
