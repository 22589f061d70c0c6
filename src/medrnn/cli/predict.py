"""`medrnn predict`: classify every beat of new ECG records with a trained artifact."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import typer

from medrnn import paths
from medrnn.errors import MedrnnError


def _resolve(record: str, dataset: str) -> Path:
    """A record path (with or without .hea), or a bare record name under the data root's dataset folder."""
    path = Path(record)
    if path.suffix == ".hea":
        path = path.with_suffix("")
    if path.with_suffix(".hea").exists() or path.parent != Path("."):
        return path
    return paths.dataset_dir(dataset) / record


def predict_command(
    records: list[str] = typer.Argument(..., help="WFDB records: paths like data/100 (or 100.hea), or names under the data root."),
    artifact: Path = typer.Option(..., "--artifact", "-a", help="Model folder written by `medrnn train` (RUN/model)."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", "-o", help="Output file; .json for JSON, else CSV."),
) -> None:
    """Detect beats (XQRS) and classify each as N/S/V/F/Q; bad records are reported, the rest still predicted.

    Example:

        medrnn predict --artifact runs/mitdb/model 100 232 --out beats.csv

    Each row: record, sample, time_s, class, p_N ... p_Q. Exit code 1 if any record failed.
    """
    from medrnn.io import read_wfdb
    from medrnn.predict import Predictor

    predictor = Predictor.from_artifact(artifact)
    cfg = predictor.beat_config
    rows, failures = [], {}
    for rec in records:
        try:
            record = read_wfdb(_resolve(rec, cfg.dataset), annotation_extension=None, leads=[cfg.lead])
            result = predictor.predict(record)
            rows.extend(result.rows())
            counts = {c: result.label.count(c) for c in result.class_names}
            typer.echo(f"{rec}: {len(result.label)} beats {counts}")
        except MedrnnError as err:
            failures[rec] = str(err)
            typer.echo(f"{rec}: FAILED: {err}", err=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".json":
        out.write_text(json.dumps({"predictions": rows, "errors": failures}, indent=1))
    else:
        with out.open("w", newline="") as fh:
            fields = ["record", "sample", "time_s", "class", *[f"p_{c}" for c in predictor.class_names]]
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        if failures:
            out.with_suffix(".errors.json").write_text(json.dumps(failures, indent=1))
    typer.echo(f"wrote {len(rows)} beats from {len(records) - len(failures)}/{len(records)} records to {out}")
    if failures:
        raise typer.Exit(code=1)
