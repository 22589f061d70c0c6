"""`medrnn report`: render a run folder into one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(
    run_dir: Path = typer.Argument(..., help="Run folder written by `medrnn train` (must hold metrics.json)."),
    out: Path | None = typer.Option(None, "--out", help="Where to write the HTML file (default: RUN_DIR/report.html)."),
) -> None:
    """Write one self-contained HTML report for a run of any task: summary, metrics with 95% CIs, curves, calibration and
    the task's own sections (the ECG strip, the molecule attention gallery, RETAIN explanations, code evidence).

    Example: medrnn report runs/mitdb   (writes runs/mitdb/report.html)
    """
    from medrnn.report.html import write_report  # matplotlib only when a report is drawn

    path = write_report(run_dir, out)
    typer.echo(str(path))
