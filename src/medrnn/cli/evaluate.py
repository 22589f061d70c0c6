"""`medrnn evaluate`: a trained artifact or ensemble scored on the test part of its recorded data and split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer


def evaluate_command(
    artifact: str = typer.Argument(..., help="Run folder, RUN/model folder or ensemble folder."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the test metrics (with CIs) as JSON."),
) -> None:
    """Score a model or an ensemble on the test part of the data and split its (first member's) run recorded, with the
    task's metrics and bootstrap CIs; refused when a member trained on any test unit. A training run already prints its
    own test figure: this is for ensembles, and for re-scoring an artifact.

    Examples:

        medrnn ensemble runs/mitdb-s0 runs/mitdb-s1 runs/mitdb-s2 --no-tune --out runs/mitdb-ens

        medrnn evaluate runs/mitdb-ens --out runs/mitdb-ens/test.json
    """
    from medrnn.evaluation import evaluate_on_test

    report, summary = evaluate_on_test(artifact)
    typer.echo(report.table())
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2, default=float))
        typer.echo(f"wrote {out}")
