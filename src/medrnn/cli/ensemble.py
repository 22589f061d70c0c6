"""`medrnn ensemble`: serve several trained models as one (mean probability, threshold tuned on dev)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    help=(
        "Combine models trained with different seeds into one served model. The ensemble folder only names its members "
        "(with their checksums); `medrnn predict --artifact ENSEMBLE` then averages them.\n\n"
        "  medrnn ensemble notes runs/s0/model runs/s1/model runs/s2/model --out runs/notes-ensemble"
    ),
    no_args_is_help=True,
)


@app.command("notes")
def notes_command(
    members: list[Path] = typer.Argument(..., help="Notes model folders (RUN/model of `medrnn train notes`), two or more, trained on the same labels."),
    out: Path = typer.Option(Path("runs/notes-ensemble"), "--out", "-o", help="Ensemble folder (gets ensemble.json; members stay where they are)."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="CodiEsp folder or name to tune the threshold on (default: the members' dataset)."),
    split: str = typer.Option("dev", "--split", help="Split to tune the threshold on; no member may have trained on it."),
) -> None:
    """Average the code probabilities of several notes coders and tune one threshold for the average on dev.

    Seed ensembles are the cheapest sure gain for these models: on CodiEsp-D three LAAT seeds give test MAP 0.578
    against 0.523 for one (docs/benchmarks.md). Each member still reads the note with its own window; a code's evidence
    snippet comes from the member most confident in that code. Dev MAP of every member and of the ensemble is printed
    and kept in ensemble.json.

    Example:

        medrnn ensemble notes runs/notes-s0/model runs/notes-s1/model runs/notes-s2/model --out runs/notes-ensemble

        medrnn predict --artifact runs/notes-ensemble notes/*.txt --out codes.csv
    """
    from medrnn.ensemble_notes import build_notes_ensemble

    meta = build_notes_ensemble(members, out, data=data, split=split)
    for entry in meta["members"]:
        typer.echo(f"member {entry['path']}: {split} MAP {entry['dev_map']:.3f}")
    tuning = meta["tuning"]
    typer.echo(f"ensemble of {len(meta['members'])}: {split} MAP {tuning['map']:.3f}, micro-F1 {tuning['micro_f1']:.3f} "
               f"at threshold {meta['threshold']:.2f} (tuned on {tuning['documents']} {split} notes)")  # fmt: skip
    typer.echo(f"wrote {out / 'ensemble.json'}; serve it with: medrnn predict --artifact {out} NOTES...")
