"""`medrnn train icu`: ICU stays (PhysioNet 2012) -> in-hospital mortality with GRU-D or a recurrent baseline."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from medrnn.config import load_config
from medrnn.tasks.icu_mortality.config import IcuRunConfig


def icu_command(
    sets: Optional[str] = typer.Option(None, "--sets", help="PhysioNet 2012 sets, comma-separated: 'a' or 'a,b,c' (default: all three: 12,000 stays, of which the 12 without any time series are excluded)."),
    protocol: Optional[str] = typer.Option(None, "--protocol", help="split: stratified 80/10/10 (default); cv: stratified k-fold, test = --fold."),
    fold: Optional[int] = typer.Option(None, "--fold", help="With --protocol cv: which fold is the test set (0-based)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="gru_d (default; decays the last observation toward the mean), gru, lstm or rnn on [values | mask | hours since observed]."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML run config (see config.yaml of any ICU run); flags override it."),
    out: Path = typer.Option(Path("runs/icu"), "--out", "-o", help="Run folder."),
    seed: Optional[int] = typer.Option(None, help="Seed for the split, the weights and the batches."),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Upper bound; early stopping on validation ROC-AUC usually ends sooner."),
    accelerator: Optional[str] = typer.Option(None, help="Lightning accelerator: auto, cpu, gpu."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html at the end."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
) -> None:
    """Predict in-hospital death from the first 48 h of an ICU stay (37 irregularly sampled vitals and labs + descriptors).

    The stays are put on an hourly grid (last value per hour); the split is made before the standardisers are
    fitted on the training stays. Impossible values and -1 markers are counted in metrics.json, not silently used.

    Examples:

        medrnn train icu --out runs/icu                          # GRU-D, sets A+B+C, stratified 80/10/10

        medrnn train icu --sets a --protocol cv --fold 2         # GRU-D's own setting: set A, 5-fold, fold 2

        medrnn train icu --model gru --seed 1 --out runs/icu-gru
    """
    from medrnn.train.icu_run import run_icu_experiment  # heavy imports only when training

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(config, IcuRunConfig) if config else IcuRunConfig()
    raw = cfg.model_dump()
    data_over = {"sets": [s.strip() for s in sets.split(",") if s.strip()] if sets else None, "protocol": protocol, "fold": fold}
    raw["data"].update({k: v for k, v in data_over.items() if v is not None})
    raw["train"].update({k: v for k, v in {"seed": seed, "max_epochs": max_epochs, "accelerator": accelerator, "progress": progress}.items() if v is not None})
    if model:
        raw["model"]["name"] = model
    cfg = IcuRunConfig.model_validate(raw)

    metrics = run_icu_experiment(cfg, out, progress=progress)
    from medrnn.metrics.molecules import MoleculeMetricReport

    counts, deaths = metrics["split"]["counts"], metrics["split"]["deaths"]
    typer.echo(" ".join(f"{k} {counts[k]} ({deaths[k]} deaths)" for k in counts))
    typer.echo(MoleculeMetricReport.from_dict(metrics["test"]).table())
    typer.echo(f"Brier {metrics['calibration']['brier']:.4f} (base rate {metrics['calibration']['base_rate']:.3f})")
    typer.echo(f"run folder: {out}  (artifact: {out / 'model'})")
    if report:
        from medrnn.report import write_report

        typer.echo(f"report: {write_report(out)}")
