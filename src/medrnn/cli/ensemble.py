"""`medrnn ensemble`: several trained models of one task served as one (mean probability; threshold re-tuned on validation)."""

from __future__ import annotations

from pathlib import Path

import typer


def ensemble_command(
    members: list[str] = typer.Argument(..., help="Run folders or RUN/model folders of one task, two or more (an optional leading task name is checked against them)."),
    out: Path = typer.Option(..., "--out", "-o", help="Ensemble folder (gets ensemble.json; members stay where they are)."),
    tune: bool = typer.Option(True, "--tune/--no-tune", help="Re-tune the decision threshold for the mean on the members' validation data (tasks with a threshold)."),
) -> None:
    """Average the predictions of several models of one task (seeds, recipes) and serve them as one model.

    Members must share the task, the labels and the way inputs are read; where the task has a decision threshold it is
    re-tuned for the mean on the validation part of the members' data (refused if any member trained on it).

    Examples:

        medrnn ensemble runs/notes-s0 runs/notes-s1 runs/notes-s2 --out runs/notes-ensemble

        medrnn ensemble runs/bbbp runs/bbbp-lm --out runs/bbbp-ensemble

        medrnn predict --artifact runs/notes-ensemble notes/*.txt --out codes.csv
    """
    from medrnn.artifact import read_metadata
    from medrnn.ensemble import build_ensemble
    from medrnn.errors import ConfigError
    from medrnn.predict import resolve_artifact
    from medrnn.tasks.base import get_task

    if members and not Path(members[0]).exists():
        try:
            expected = get_task(members[0]).name
        except ConfigError:
            expected = None
        if expected is not None:
            members = members[1:]
            for member in members:  # checked before anything is written
                theirs = read_metadata(resolve_artifact(member)).get("task")
                if theirs is not None and get_task(str(theirs)).name != expected:
                    raise ConfigError(f"{member}: a {theirs!r} model, not {expected!r}; an ensemble holds models of one task")
    meta = build_ensemble(members, out, tune=tune)
    typer.echo(f"ensemble of {len(meta['members'])} {meta['task']} models -> {out / 'ensemble.json'}")
    if meta.get("threshold") is not None:
        typer.echo(f"threshold {meta['threshold']:.3f} tuned for the mean on {meta['tuning'].get('units', '?')} validation units")
    typer.echo(f"serve it with: medrnn predict --artifact {out} INPUTS...")
