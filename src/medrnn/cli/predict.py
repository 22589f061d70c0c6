"""`medrnn predict`: classify every beat of new ECG records with a trained artifact."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Optional

import typer

from medrnn import paths
from medrnn.errors import ArtifactError, MedrnnError


def _resolve(record: str, dataset: str) -> Path:
    """A record path (with or without .hea), or a bare record name under the data root's dataset folder."""
    path = Path(record)
    if path.suffix == ".hea":
        path = path.with_suffix("")
    if path.with_suffix(".hea").exists() or path.parent != Path("."):
        return path
    return paths.dataset_dir(dataset) / record


def predict_command(
    inputs: list[str] = typer.Argument(..., help="ECG model: WFDB records (data/100, 100.hea or names under the data root). SMILES model: CSV files with a SMILES column. ICU model: PhysioNet-2012-format stay files (Time,Parameter,Value). Notes model: UTF-8 text files, one note each."),
    artifact: Path = typer.Option(..., "--artifact", "-a", help="Model folder written by `medrnn train` (RUN/model), or an ensemble folder of `medrnn ensemble`."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", "-o", help="Output file; .json for JSON, else CSV (+ OUT.errors.json for bad inputs)."),
    smiles_column: Optional[str] = typer.Option(None, "--smiles-column", help="SMILES models: the column with SMILES (default: smiles, canonical_smiles, smi or mol)."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="SMILES models: a column to carry into the output as the molecule id (default: row number)."),
) -> None:
    """Predict with a trained artifact; bad inputs are reported and the rest still predicted (exit code 1 if any failed).

    ECG model: detect beats (XQRS) and classify each as N/S/V/F/Q; each row: record, sample, time_s, class, p_N ... p_Q.

        medrnn predict --artifact runs/mitdb/model 100 232 --out beats.csv

    SMILES model: one row per molecule RDKit can parse: id, smiles, canonical_smiles, p_<task> (or the predicted value);
    rows it cannot parse go to OUT.errors.json with row number and reason.

        medrnn predict --artifact runs/bbbp/model molecules.csv --out scores.csv

    ICU model: one row per stay file: record_id, p_In-hospital_death, n_observations; unreadable files go to OUT.errors.json.

        medrnn predict --artifact runs/icu/model stays/*.txt --out risk.csv

    Notes model: one row per (note, code at or above the dev-tuned threshold): file, code, probability, start, end,
    evidence (the text around the token the code attended to most, that token in [brackets]); unreadable or empty
    files go to OUT.errors.json.

        medrnn predict --artifact runs/notes/model notes/*.txt --out codes.csv

    An ensemble folder written by `medrnn ensemble notes` is served the same way (mean of its members, its own threshold).
    """
    from medrnn.artifact import read_metadata
    from medrnn.ensemble_notes import is_ensemble

    if is_ensemble(artifact):
        _predict_notes(inputs, artifact, out)
        return
    task = read_metadata(artifact).get("task")
    if task == "smiles":
        _predict_molecules(inputs, artifact, out, smiles_column, id_column)
        return
    if task == "icu_mortality":
        _predict_stays(inputs, artifact, out)
        return
    if task == "notes":
        _predict_notes(inputs, artifact, out)
        return
    if task is not None and task != "beats":
        raise ArtifactError(f"{artifact}: `medrnn predict` serves beat (ECG), smiles, icu_mortality and notes artifacts; this one is {task!r}")
    records = inputs
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


def _write_rows(out: Path, rows: list[dict[str, Any]], failures: dict[str, Any], fields: list[str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".json":
        out.write_text(json.dumps({"predictions": rows, "errors": failures}, indent=1))
        return
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    if failures:
        out.with_suffix(".errors.json").write_text(json.dumps(failures, indent=1))


def _predict_molecules(files: list[str], artifact: Path, out: Path, smiles_column: str | None, id_column: str | None) -> None:
    """Score every parsable molecule of each CSV; unparsable rows and unreadable files go to the error report."""
    from medrnn.predict import MoleculePredictor

    predictor = MoleculePredictor.from_artifact(artifact)
    rows: list[dict[str, Any]] = []
    failures: dict[str, Any] = {}
    for name in files:
        try:
            result = predictor.predict_file(name, smiles_column=smiles_column, id_column=id_column)
        except MedrnnError as err:
            failures[name] = str(err)
            typer.echo(f"{name}: FAILED: {err}", err=True)
            continue
        rows.extend({"file": name, **row} for row in result.rows())
        if result.rejected:
            failures[name] = {"rejected_rows": result.rejected}
        typer.echo(f"{name}: {len(result.ids)} molecules predicted, {len(result.rejected)} rows rejected")
        for bad in result.rejected[:10]:
            typer.echo(f"  row {bad['row']}: {bad['reason']} ({bad['smiles']})", err=True)
    prefix = "p_" if predictor.task_type == "classification" else ""
    fields = ["file", "id", "smiles", "canonical_smiles", *[f"{prefix}{t}" for t in predictor.task_names]]
    _write_rows(out, rows, failures, fields)
    typer.echo(f"wrote {len(rows)} molecules to {out}")
    if failures:
        raise typer.Exit(code=1)


def _predict_stays(files: list[str], artifact: Path, out: Path) -> None:
    """Risk for every readable stay file; unreadable ones go to the error report with their reason."""
    from medrnn.predict_icu import IcuPredictor

    predictor = IcuPredictor.from_artifact(artifact)
    result = predictor.predict_files(list(files))
    for name, reason in result.errors.items():
        typer.echo(f"{name}: FAILED: {reason}", err=True)
    rows = result.rows()
    _write_rows(out, rows, result.errors, ["record_id", f"p_{result.outcome}", "n_observations"])
    typer.echo(f"wrote {len(rows)} stays to {out} ({len(result.errors)} files failed)")
    if result.errors:
        raise typer.Exit(code=1)


def _predict_notes(files: list[str], artifact: Path, out: Path) -> None:
    """Codes with probability and evidence snippet for every readable note; unreadable files go to the error report."""
    from medrnn.ensemble_notes import NotesEnsemble, is_ensemble
    from medrnn.predict_notes import NotesPredictor

    predictor = NotesEnsemble.from_path(artifact) if is_ensemble(artifact) else NotesPredictor.from_artifact(artifact)
    result = predictor.predict_files(list(files))
    for name, reason in result.errors.items():
        typer.echo(f"{name}: FAILED: {reason}", err=True)
    for i, name in enumerate(result.files):
        typer.echo(f"{name}: {', '.join(predictor.label_names[c] for c in result.codes(i)) or 'no code above the threshold'}")
    rows = result.rows()
    _write_rows(out, rows, result.errors, ["file", "code", "probability", "start", "end", "evidence"])
    typer.echo(f"wrote {len(rows)} codes for {len(result.files)} notes to {out} ({len(result.errors)} files failed)")
    if result.errors:
        raise typer.Exit(code=1)
