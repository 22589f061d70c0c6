"""`medrnn predict`: score new inputs with any trained artifact or ensemble (one Predictor for every task)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _help() -> str:
    from medrnn.tasks.base import get_task, task_names

    lines = [f"  {name}: {get_task(name).predict_help}" for name in task_names()]
    return "\n\n".join(lines)


def predict_command(
    inputs: list[str] = typer.Argument(..., help="What the artifact's task reads: see the list above (records, CSV files, stay files, notes, patient JSON files)."),
    artifact: Path = typer.Option(..., "--artifact", "-a", help="Model folder written by `medrnn train` (RUN/model or RUN), or an ensemble folder of `medrnn ensemble`."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", "-o", help="Output file; .json for JSON, else CSV (+ OUT.errors.json for bad inputs)."),
    smiles_column: Optional[str] = typer.Option(None, "--smiles-column", help="Molecule models: the column with SMILES (default: smiles, canonical_smiles, smi or mol)."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Molecule models: a column carried into the output as the molecule id (default: row number)."),
) -> None:
    """Predict with a trained artifact; each input is read and scored on its own, so a bad input is reported (OUT.errors.json)
    and the rest still predicted. Exit code 0: all inputs predicted; 1: some failed (errors file written); 2: usage,
    config or artifact error.

    Examples:

        medrnn predict --artifact runs/mitdb/model 100 232 --out beats.csv

        medrnn predict --artifact runs/bbbp/model molecules.csv --id-column name --out scores.csv

        medrnn predict --artifact runs/icu/model stays/*.txt --out risk.csv

        medrnn predict --artifact runs/notes-ensemble notes/*.txt --out codes.csv
    """
    from medrnn.predict import Predictor, write_predictions

    predictor = Predictor.from_artifact(artifact)
    options = {k: v for k, v in {"smiles_column": smiles_column, "id_column": id_column}.items() if v is not None}
    result = predictor.predict(list(inputs), **options)
    for item in result.items:
        typer.echo(f"{item.item_id}: {len(item.rows)} rows" + (f", {len(item.problems)} parts rejected" if item.problems else "")
                   + (f"; noted: {item.notes}" if item.notes else ""))  # fmt: skip
    for source, entry in result.failures.items():
        if "error" in entry:
            typer.echo(f"{source}: FAILED: {entry['message']}", err=True)
    errors = write_predictions(result, out)
    typer.echo(f"wrote {len(result.rows())} rows for {len(result.items)}/{len(inputs)} inputs to {out}"
               + (f"; problems in {errors}" if errors else ""))  # fmt: skip
    if result.n_failed or any("rejected" in f for f in result.failures.values()):
        raise typer.Exit(code=1)


def with_task_help(command: object) -> object:
    """Append what each registered task reads and writes to the command's help."""
    command.__doc__ = (command.__doc__ or "") + "\n\nWhat each task reads and writes:\n\n" + _help()  # type: ignore[attr-defined]
    return command
