"""`medrnn train`: train and evaluate a model; writes config, metrics, artifact and report into one run folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from medrnn.config import load_config
from medrnn.tasks.ecg_beats.config import BeatRunConfig

app = typer.Typer(
    help=(
        "Train a model and evaluate it once on held-out data; everything lands in one run folder "
        "(config.yaml, metrics.json, predictions, model/ artifact, report.html).\n\n"
        "  medrnn train mitdb --out runs/mitdb                      # ECG beats, MIT-BIH inter-patient\n\n"
        "  medrnn train smiles --data bbbp --out runs/bbbp          # molecules, MoleculeNet BBBP, scaffold split\n\n"
        "  medrnn train smiles --data my.csv --target pIC50 --split scaffold\n\n"
        "  medrnn train icu --out runs/icu                          # ICU stays, PhysioNet 2012, in-hospital mortality\n\n"
        "  medrnn train ehr --task readmission_30d                  # coded MIMIC visits, RETAIN\n\n"
        "  medrnn train notes --out runs/notes                      # clinical notes, CodiEsp, ICD-10 codes with evidence (LAAT)"
    ),
    no_args_is_help=True,
)


@app.command("mitdb")
def mitdb_command(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML run config (see config.yaml of any run); flags below override it."),
    out: Path = typer.Option(Path("runs/mitdb"), "--out", "-o", help="Run folder: config.yaml, metrics.json, model/, report.html."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Registered model: rnn, lstm, gru."),
    seed: Optional[int] = typer.Option(None, help="Seed for weights, batches and the validation-record draw."),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Upper bound; early stopping usually ends sooner."),
    accelerator: Optional[str] = typer.Option(None, help="Lightning accelerator: auto, cpu, gpu."),
    devices: Optional[str] = typer.Option(None, help="Lightning devices: auto, 1, 4, '0,1'."),
    strategy: Optional[str] = typer.Option(None, help="Lightning strategy, e.g. ddp to scale out over GPUs/nodes."),
    num_nodes: Optional[int] = typer.Option(None, "--num-nodes", help="Nodes for multi-node DDP."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html at the end."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
) -> None:
    """ECG beat classes N/S/V/F/Q (AAMI) on MIT-BIH: train on DS1, evaluate once on DS2 (de Chazal's inter-patient split).

    Example (the main job, about 3-5 minutes on 2 CPU cores):

        medrnn train mitdb --out runs/mitdb

    With a config and a GPU:  medrnn train mitdb -c my.yaml --accelerator gpu --devices 2 --strategy ddp
    """
    from medrnn.train.experiment import run_beat_experiment  # heavy imports only when training

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(config, BeatRunConfig) if config else BeatRunConfig()
    overrides = {"seed": seed, "max_epochs": max_epochs, "accelerator": accelerator, "strategy": strategy, "num_nodes": num_nodes,
                 "devices": (int(devices) if devices and devices.isdigit() else devices), "progress": progress}
    train_cfg = cfg.train.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    model_cfg = cfg.model.model_copy(update={"name": model}) if model else cfg.model
    cfg = BeatRunConfig.model_validate({**cfg.model_dump(), "train": train_cfg.model_dump(), "model": model_cfg.model_dump()})

    result = run_beat_experiment(cfg, out, progress=progress)
    from medrnn.metrics import MetricReport

    typer.echo("beats per class (AAMI) and set:")
    for name, counts in result.counts.items():
        typer.echo(f"  {name:10s} " + "  ".join(f"{c} {n:>6,}" for c, n in counts.items()))
    for name, dropped in result.dropped.items():
        for reason, n in dropped.items():
            typer.echo(f"  {name}: {n} beats dropped ({reason})")
    typer.echo(MetricReport.from_dict(result.metrics).table())
    typer.echo(f"run folder: {out}  (artifact: {out / 'model'})")
    if report:
        from medrnn.report import write_report

        typer.echo(f"report: {write_report(out)}")
