"""`medrnn data`: list the known datasets and fetch them from their sources (logic in medrnn.datasets and medrnn.download)."""

from __future__ import annotations

from pathlib import Path

import typer

from medrnn import datasets, download, paths

app = typer.Typer(
    help=(
        "List and download the datasets medrnn knows (PhysioNet, Zenodo and DeepChem sources).\n\n"
        "\b\n"
        "  medrnn data list           # what is under the data root, and why that root\n"
        "  medrnn data fetch mitdb    # download MIT-BIH from PhysioNet\n\n"
        "The data root is $MEDRNN_DATA, else shared/data beside the medrnn source checkout (<checkout>/../shared/data, "
        "the same from any working directory), else ~/.cache/medrnn."
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command("list")
def list_command() -> None:
    """Show where the data root is and why, then every known dataset: present (all files there), folder, files found / expected.

    Example: medrnn data list
    """
    typer.echo(datasets.root_line())
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
    """Download a dataset from its source (PhysioNet, Zenodo or DeepChem's S3 bucket, as `medrnn data list` shows);
    a copy already complete is left alone, files already there are skipped, so re-running resumes.

    Example: medrnn data fetch mitdb --dest ~/data/mitdb

    and then: export MEDRNN_DATA=~/data
    """
    info = datasets.get_dataset(name)
    folder = Path(dest).expanduser() if dest is not None else paths.dataset_dir(name)
    if not datasets.missing_files(info, folder):
        typer.echo(f"{name}: already present at {folder}; nothing to fetch" + ("" if dest is not None else f" ({datasets.root_line()})"))
        return
    target = Path(dest).expanduser() if dest is not None else datasets.default_fetch_dir(name)
    typer.echo(f"fetching {name} from {info.server} into {target}: {info.files_summary()}")
    path = download.fetch_dataset(name, target)
    typer.echo(f"{name}: complete at {path}")
    if paths.dataset_dir(name).resolve() != path.resolve():
        typer.echo(f"the data root does not look there ({datasets.root_line()}): export MEDRNN_DATA={path.parent} to use this copy")
