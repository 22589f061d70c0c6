"""`medrnn data`: list the known datasets and fetch them from PhysioNet (logic in medrnn.datasets)."""

from __future__ import annotations

from pathlib import Path

import typer

from medrnn import datasets, download

app = typer.Typer(
    help=(
        "List and download the datasets medrnn knows.\n\n"
        "medrnn data list           # what is under the data root\n\n"
        "medrnn data fetch mitdb    # download MIT-BIH from PhysioNet\n\n"
        "The data root is $MEDRNN_DATA, else ../shared/data beside the working directory, else ~/.cache/medrnn."
    ),
    no_args_is_help=True,
)


@app.command("list")
def list_command() -> None:
    """Show every known dataset: present (all files there), folder, files found / expected.

    Example: medrnn data list
    """
    rows = [("name", "present", "path", "files")]
    for status in datasets.list_datasets():
        present = "yes" if status.present else "no"
        rows.append((status.name, present, str(status.path), f"{status.n_files}/{status.n_expected}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@app.command("fetch")
def fetch_command(
    name: str = typer.Argument(..., help="Dataset to download, e.g. mitdb (see `medrnn data list`)."),
    dest: Path | None = typer.Option(
        None,
        "--dest",
        help="Folder to download into, e.g. --dest ~/data/mitdb. Default: $MEDRNN_DATA/NAME, else ~/.cache/medrnn/NAME.",
    ),
) -> None:
    """Download a dataset from PhysioNet; files already there are skipped, so re-running resumes.

    Example: medrnn data fetch mitdb --dest ~/data/mitdb

    and then: export MEDRNN_DATA=~/data
    """
    path = download.fetch_dataset(name, dest)
    typer.echo(f"{name}: complete at {path}")
