"""`medrnn train ehr`: coded hospital visits (MIMIC-III/IV) -> mortality, 30-day readmission or next-visit diagnoses."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from medrnn.config import load_config
from medrnn.tasks.ehr_visits.config import VisitRunConfig


def ehr_command(
    data: Optional[str] = typer.Option(None, "--data", "-d", help="mimic4-demo (default), mimic3-demo, or the folder of a full MIMIC-III (ADMISSIONS.csv ...) or MIMIC-IV (hosp/*.csv.gz) download."),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="readmission_30d (default; at discharge), next_admission_mortality (at admission) or next_visit_diagnosis (top-k ICD diagnoses, multi-label)."),
    sources: Optional[str] = typer.Option(None, "--sources", help="Code tables, comma-separated: diagnoses,procedures,prescriptions[,labevents] (abnormal lab flags)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="retain (default; per-code contributions), gru, lstm or rnn over multi-hot visits."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML run config (see config.yaml of any EHR run); flags override it."),
    out: Path = typer.Option(Path("runs/ehr"), "--out", "-o", help="Run folder."),
    seed: Optional[int] = typer.Option(None, help="Seed for the patient split, the weights and the batches."),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Upper bound; early stopping on validation loss usually ends sooner."),
    accelerator: Optional[str] = typer.Option(None, help="Lightning accelerator: auto, cpu, gpu."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
) -> None:
    """Learn from each patient's admissions (ICD-9/10 diagnoses and procedures, NDC drugs), split by patient.

    Only admissions discharged before the prediction time feed a sample; the code vocabulary is fitted on the
    training patients only. The demos hold 100 patients, so their scores come with wide CIs.

    Examples:

        medrnn train ehr --out runs/readmit                                   # MIMIC-IV demo, RETAIN, 30-day readmission

        medrnn train ehr --data mimic3-demo --task next_visit_diagnosis --model gru

        medrnn train ehr --data /data/mimiciv/3.1 --task next_admission_mortality --out runs/mort
    """
    from medrnn.train.visits import run_visit_experiment  # heavy imports only when training

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(config, VisitRunConfig) if config else VisitRunConfig()
    raw = cfg.model_dump()
    data_over = {"data": data, "task": task, "code_sources": [s.strip() for s in sources.split(",") if s.strip()] if sources else None}
    raw["data"].update({k: v for k, v in data_over.items() if v is not None})
    raw["train"].update({k: v for k, v in {"seed": seed, "max_epochs": max_epochs, "accelerator": accelerator, "progress": progress}.items() if v is not None})
    if model:
        raw["model"]["name"] = model
    cfg = VisitRunConfig.model_validate(raw)

    metrics = run_visit_experiment(cfg, out, progress=progress)
    from medrnn.metrics.molecules import MoleculeMetricReport

    split = metrics["split"]
    typer.echo(f"patients {split['patients']}, samples {split['samples']} (split by patient, seed {split['seed']})")
    report = MoleculeMetricReport.from_dict(metrics["test"])
    typer.echo(report.table() if len(report.task_names) <= 5 else f"{len(report.task_names)} labels: mean AUROC {report.headline[1]:.3f}")
    for name, value in metrics["ranking"].items():
        typer.echo(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")
    typer.echo(f"run folder: {out}  (artifact: {out / 'model'})")
