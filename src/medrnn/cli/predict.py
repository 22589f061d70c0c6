"""`medrnn predict`: score new inputs with any trained artifact or ensemble (one Predictor for every task); its flags are
the common ones plus every task's `predict_options`, built from the task registry."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Optional

import typer

HELP = """Predict with a trained artifact; each input is read and scored on its own, so a bad input is reported
(OUT.errors.json) and the rest still predicted; what was counted but is not a failure goes to OUT.notes.json.
Exit code 0: all inputs predicted; 1: some failed (errors file written); 2: usage, config or artifact error;
3: internal error (a defect in medrnn).

Examples:

\b
  medrnn predict --artifact runs/mitdb/model 100 232 --out beats.csv
  medrnn predict --artifact runs/bbbp/model molecules.csv --id-column name --out scores.csv
  medrnn predict --artifact runs/icu/model stays/*.txt --out risk.csv
  medrnn predict --artifact runs/notes-ensemble notes/*.txt --out codes.csv

Every output starts with item_id, the input exactly as given (the key of OUT.errors.json too); the task's own columns
follow. What each task reads and writes:

"""
COVERAGE_HELP = ("Add each prediction's split-conformal set (classes: columns prediction_set, set_size; codes: in_set) or "
                 "interval (regression: lower_NAME, upper_NAME, in target units) that holds the truth with this probability, "
                 "e.g. 0.9. Calibrated on the run's validation split; multiclass/binary: P(true class in set) >= coverage "
                 "(per class for rare classes); multilabel: per code, P(true code in set) >= coverage. Needs an artifact "
                 "trained with this medrnn; not for ensembles. See docs/uncertainty.md.")
TYPES = {"str": Optional[str], "int": Optional[int], "float": Optional[float], "bool": Optional[bool], "list": Optional[str]}


def predict_command_for_tasks() -> Any:
    """The predict command, with every registered task's predict flags and help."""
    from medrnn.tasks.base import get_task, task_names

    tasks = [get_task(name) for name in task_names()]
    options: dict[str, Any] = {}
    for task in tasks:
        for option in task.predict_options:
            options.setdefault(option.flag, option)  # one flag, one meaning: the first task declaring it documents it
    params = [
        ("inputs", list[str], typer.Argument(..., help="What the artifact's task reads (records, CSV files, stay files, notes, patient JSON files): see above.")),
        ("artifact", Path, typer.Option(..., "--artifact", "-a", help="Model folder written by `medrnn train` (RUN/model or RUN), or an ensemble folder of `medrnn ensemble`.")),
        ("out", Path, typer.Option(Path("predictions.csv"), "--out", "-o", help="Output file; .json for JSON, else CSV (+ OUT.errors.json, OUT.notes.json).")),
        ("coverage", Optional[float], typer.Option(None, "--coverage", help=COVERAGE_HELP)),
        ("threads", Optional[int], typer.Option(None, "--threads", min=1, help="CPU threads torch uses (default: all cores).")),
        ("figures", bool, typer.Option(False, "--figures", help="Also draw each input's figures (imaging: the slices read, with their attention and outline) as PNGs in OUT.figures/ beside OUT; tasks without figures write none.")),
    ] + [(o.field, TYPES[o.kind], typer.Option(None, o.flag, help=o.help)) for o in options.values()]  # fmt: skip

    def command(**kwargs: Any) -> None:
        coverage, threads, figures = kwargs.pop("coverage"), kwargs.pop("threads"), kwargs.pop("figures")
        if threads:
            import torch

            torch.set_num_threads(threads)
        run_predict(kwargs.pop("inputs"), kwargs.pop("artifact"), kwargs.pop("out"), {k: v for k, v in kwargs.items() if v is not None},
                    coverage=coverage, figures=figures)  # fmt: skip

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=t) for n, t, d in params]
    )
    command.__doc__ = HELP + "\n\n".join(f"  {t.name}: {t.predict_help}" for t in tasks)
    return command


def run_predict(inputs: list[str], artifact: Path, out: Path, options: dict[str, Any], coverage: float | None = None,
                figures: bool = False) -> None:  # fmt: skip
    """Predict every input, print one line per item, write the rows and the errors and notes files (and the figures)."""
    from medrnn.predict import Predictor, write_predictions
    from medrnn.uncertainty import check_coverage

    if coverage is not None:
        check_coverage(coverage)  # a bad value is refused before the artifact is loaded
    predictor = Predictor.from_artifact(artifact)
    result = predictor.predict(list(inputs), coverage=coverage, figures=figures, **options)
    for item in result.items:
        typer.echo(f"{item.item_id}: {len(item.rows)} rows" + (f", {len(item.problems)} parts rejected" if item.problems else "")
                   + (f"; noted: {item.notes}" if item.notes else ""))  # fmt: skip
    for source, entry in result.failures.items():
        if "error" in entry:
            typer.echo(f"{source}: FAILED: {entry['message']}", err=True)
    errors = write_predictions(result, out)
    if figures:
        from medrnn.predict import write_figures

        folder, written = write_figures(result, out)
        typer.echo(f"{len(written)} figures in {folder}" if written else f"no figures: task {result.task} draws none for these inputs")
    typer.echo(summary_line(result, len(inputs), out, errors))
    if result.n_failed or any("rejected" in f for f in result.failures.values()):
        raise typer.Exit(code=1)


def summary_line(result: Any, n_inputs: int, out: Path, errors: Path | None) -> str:
    """"predicted 3 of 4 inputs (1 failed, 1 with rejected parts: see OUT.errors.json); 120 rows in OUT"."""
    n_rejected = sum("rejected" in f for f in result.failures.values())
    n_ok = len(result.items)
    problems = [f"{result.n_failed} failed"] if result.n_failed else []
    problems += [f"{n_rejected} with rejected parts"] if n_rejected else []
    where = f"see {errors}" if errors else f"see \"errors\" in {out}"
    said = f" ({', '.join(problems)}: {where})" if problems else " (none failed)"
    return f"predicted {n_ok} of {n_inputs} inputs{said}; {len(result.rows())} rows in {out}"
